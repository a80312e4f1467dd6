namespace Storage.Json.IO;

/// <summary>The real file layer (placeholder until implemented).</summary>
internal sealed class PosixFileSystem : IFileSystem
{
    public void CreateDirectory(string path) => throw new NotImplementedException();

    public bool DirectoryExists(string path) => throw new NotImplementedException();

    public bool FileExists(string path) => throw new NotImplementedException();

    public IReadOnlyList<string> ListFiles(string directory) => throw new NotImplementedException();

    public byte[] ReadAllBytes(string path) => throw new NotImplementedException();

    public IWritableFile CreateNew(string path) => throw new NotImplementedException();

    public void Rename(string source, string destination) => throw new NotImplementedException();

    public void Delete(string path) => throw new NotImplementedException();

    public void SyncDirectory(string path) => throw new NotImplementedException();

    public IDisposable LockExclusive(string path) => throw new NotImplementedException();
}
