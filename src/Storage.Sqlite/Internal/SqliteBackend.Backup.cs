using System.Security.Cryptography;
using Microsoft.Data.Sqlite;

namespace Storage.Sqlite.Internal;

/// <summary>What the SQLite store offers beyond the contract: an integrity check and an online backup.</summary>
internal sealed partial class SqliteBackend
{
    /// <summary>Runs <c>PRAGMA integrity_check</c> over the whole database, in a read transaction on a reader.</summary>
    /// <exception cref="CorruptDataException">The check found damage.</exception>
    public void CheckIntegrity() => Read(session => CheckIntegrity(session, _path));

    /// <summary>Copies the database to <paramref name="destination"/> (a full path, not the store's own) as <see cref="SqliteStore.BackupAsync"/> documents.</summary>
    /// <exception cref="StorageException">The destination is in use, or the copy could not be written.</exception>
    public void Backup(string destination)
    {
        if (File.Exists(destination + "-wal") || File.Exists(destination + "-shm") || File.Exists(destination + "-journal"))
        {
            throw new StorageException(SqliteErrors.BackupDestinationInUse(destination));
        }

        var temp = destination + "." + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6)) + ".tmp";
        try
        {
            Read(session =>
            {
                try
                {
                    using var target = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = temp, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = false }.ToString());
                    target.Open();
                    using var command = target.CreateCommand();
                    command.CommandText = "PRAGMA synchronous = FULL";
                    command.ExecuteNonQuery();

                    // One step over one read transaction of the source: a consistent snapshot, and WAL mode lets writers go on.
                    session.Connection.BackupDatabase(target);

                    // The copied header says WAL; make the copy one self-contained file.
                    command.CommandText = "PRAGMA journal_mode = DELETE";
                    command.ExecuteNonQuery();
                    return true;
                }
                catch (SqliteException e) when (!SqliteErrors.IsBusy(e))
                {
                    throw new StorageException(SqliteErrors.BackupFailed(_path, destination), e);
                }
            });

            File.Move(temp, destination, overwrite: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new StorageException(SqliteErrors.BackupFailed(_path, destination), e);
        }
        finally
        {
            foreach (var leftover in new[] { temp, temp + "-journal", temp + "-wal", temp + "-shm" })
            {
                TryDelete(leftover);
            }
        }
    }

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Only a leftover temporary file.
        }
    }
}
