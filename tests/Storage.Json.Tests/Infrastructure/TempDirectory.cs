namespace Storage.Json.Tests.Infrastructure;

/// <summary>A fresh directory under the system temp directory, deleted on dispose unless <see cref="Keep"/> was called.</summary>
internal sealed class TempDirectory : IDisposable
{
    private bool _keep;

    public TempDirectory()
    {
        Path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "storage-json-tests", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(Path);
    }

    public string Path { get; }

    /// <summary>Leaves the directory in place for a person to look at (after a failure).</summary>
    public void Keep() => _keep = true;

    public void Dispose()
    {
        if (!_keep)
        {
            try
            {
                Directory.Delete(Path, recursive: true);
            }
            catch (IOException)
            {
                // A child process may still be exiting; the temp directory is cleaned up eventually.
            }
        }
    }
}
