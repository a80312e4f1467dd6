using System.Buffers;
using System.Text.Json;
using Storage.Json.IO;

namespace Storage.Json;

/// <summary>
/// <c>changes.jsonl</c>, the journal of the store-wide cursor (<see cref="IStoreBackend.ReadChangedPartitionsAsync"/>):
/// JSON lines, a header <c>{"format":1,"oldest":O}</c>, then a record per change of a partition
/// <c>{"position":N,"partition":"…","revision":R}</c> — with <c>"deleted":"…Z"</c> for the mark of a
/// partition delete — and <c>{"closed":true}</c> once the owning store was disposed cleanly.
/// </summary>
/// <remarks>
/// <para>
/// The owner appends a record once a commit's partition file is in place (and published), under the
/// journal's lock, which also gives it its position (the counter's next value): records are in
/// position order in the file, and a record never names a commit that is not visible yet. So a reader
/// — in this process or another — reads the whole file and takes the highest position in it as the
/// current one; a last line without its newline is an append in progress and is ignored. Appends are
/// not fsynced.
/// </para>
/// <para>
/// A journal without its closed line (a crash, a kill, a power loss, which may have lost records a
/// reader already saw) is repaired at open from the partition files, and its counter jumps by
/// <see cref="RepairJump"/>: the oldest position becomes the new counter, so a reader from before gets
/// <see cref="ChangedPartitionsTruncatedException"/> and lists again from 0. A store without a journal
/// (of an earlier version) gets one the same way, without the jump. The journal is rewritten
/// (compacted: one record per partition, its latest, positions kept) at open and whenever it holds more
/// than twice as many records as partitions plus <see cref="CompactionSlack"/>; a purge drops marks by
/// rewriting it with a higher oldest position.
/// </para>
/// </remarks>
/// <seealso href="../../docs/json-backend.md#the-store-wide-cursor"/>
internal sealed class ChangeJournal : IDisposable
{
    public const string FileName = "changes.jsonl";
    public const int CurrentFormat = 1;

    /// <summary>How far the counter jumps after an unclean shutdown: above every position a lost record can have had.</summary>
    public const long RepairJump = 1L << 32;

    /// <summary>How many records beyond twice the number of partitions the journal holds before it is compacted.</summary>
    public const int CompactionSlack = 1000;

    private static readonly byte[] s_closed = "{\"closed\":true}\n"u8.ToArray();

    private readonly Lock _lock = new();
    private readonly IFileSystem _files;
    private readonly string _root;
    private readonly ArrayBufferWriter<byte> _pending = new();
    private Dictionary<string, JournalRecord> _latest;
    private IWritableFile? _file;
    private long _length;
    private long _counter;
    private long _oldest;
    private int _records;
    private int _pendingRecords;
    private bool _suspect;

    private ChangeJournal(IFileSystem files, string root, Dictionary<string, JournalRecord> latest, long counter, long oldest)
    {
        _files = files;
        _root = root;
        Path = System.IO.Path.Combine(root, FileName);
        _latest = latest;
        _counter = counter;
        _oldest = oldest;
    }

    /// <summary>The journal's path.</summary>
    public string Path { get; }

    /// <summary>How many records the file holds (for tests).</summary>
    internal int Records
    {
        get
        {
            lock (_lock)
            {
                return _records;
            }
        }
    }

    /// <summary>
    /// Opens the owner's journal: reads it, repairs it when it was not closed cleanly (or builds it when
    /// there is none), and rewrites it compacted, keeping the new file open for appends.
    /// </summary>
    /// <param name="files">The file layer.</param>
    /// <param name="root">The store's directory.</param>
    /// <param name="partitions">The partitions whose files exist.</param>
    /// <param name="revisionOf">A partition's revision as its file holds it; <see langword="null"/> when it cannot be read.</param>
    /// <param name="now">The time of the marks the repair leaves for partitions whose file is gone.</param>
    /// <returns>The journal.</returns>
    /// <exception cref="IOException">The journal could not be read or written.</exception>
    /// <exception cref="CorruptDataException">The journal's header is damaged.</exception>
    public static ChangeJournal Open(IFileSystem files, string root, IReadOnlyCollection<string> partitions, Func<string, long?> revisionOf, DateTimeOffset now)
    {
        var contents = Read(files, root);
        var latest = contents?.Latest ?? new Dictionary<string, JournalRecord>(StringComparer.Ordinal);
        var counter = contents?.Current ?? 0;
        var oldest = contents?.Oldest ?? 0;
        if (contents is not { Closed: true })
        {
            if (contents is not null)
            {
                // Records a reader saw may be lost: every later position is above them, and a reader
                // from before starts over.
                counter += RepairJump;
                oldest = counter;
            }

            Repair(latest, ref counter, partitions, revisionOf, now);
        }

        var journal = new ChangeJournal(files, root, latest, counter, oldest);
        try
        {
            lock (journal._lock)
            {
                journal.Rewrite(latest, oldest);
            }
        }
        catch
        {
            // The store does not open: nothing is closed, so the next open repairs whatever is there.
            if (journal._file is { } file)
            {
                CloseQuietly(file);
            }

            throw;
        }

        return journal;
    }

    /// <summary>Reads the journal from disk; <see langword="null"/> when there is none.</summary>
    /// <exception cref="IOException">It could not be read.</exception>
    /// <exception cref="CorruptDataException">Its header is damaged.</exception>
    public static JournalContents? Read(IFileSystem files, string root)
    {
        var path = System.IO.Path.Combine(root, FileName);
        try
        {
            return Parse(files.ReadAllBytes(path), path);
        }
        catch (FileNotFoundException)
        {
            return null;
        }
    }

    /// <summary>
    /// Appends the record of a change of <paramref name="partition"/> (a mark when
    /// <paramref name="deletedAt"/> is set), at the next position. A record that cannot be written is
    /// kept and written before the next one.
    /// </summary>
    /// <exception cref="IOException">The append failed (the record is kept, to be written by the next append).</exception>
    public void Append(string partition, long revision, DateTimeOffset? deletedAt)
    {
        lock (_lock)
        {
            var record = new JournalRecord(++_counter, partition, revision, deletedAt);
            _latest[partition] = record;
            WriteLine(_pending, record);
            _pendingRecords++;
            Flush();
            if (_records > (2 * _latest.Count) + CompactionSlack)
            {
                try
                {
                    Rewrite(_latest, _oldest);
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    // The records are written: the next append tries the compaction again.
                }
            }
        }
    }

    /// <summary>Writes the records a failed append kept, if any; a failure leaves them for later.</summary>
    public void TryFlush()
    {
        lock (_lock)
        {
            try
            {
                Flush();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Kept for the next append.
            }
        }
    }

    /// <summary>The revision of the partition's latest record when it is live (for the mark after a failed delete).</summary>
    public bool TryGetLive(string partition, out long revision)
    {
        lock (_lock)
        {
            var live = _latest.TryGetValue(partition, out var record) && record.DeletedAt is null;
            revision = record.Revision;
            return live;
        }
    }

    /// <summary>The journal may miss a change (a write whose outcome could not be recorded): it is not closed at dispose, so the next open repairs it.</summary>
    public void MarkSuspect()
    {
        lock (_lock)
        {
            _suspect = true;
        }
    }

    /// <summary>Whether a mark was deleted at or before <paramref name="cutoff"/>.</summary>
    public bool HasMarksAtOrBefore(DateTimeOffset cutoff)
    {
        lock (_lock)
        {
            return _latest.Values.Any(r => r.DeletedAt <= cutoff);
        }
    }

    /// <summary>Drops the marks deleted at or before <paramref name="cutoff"/> and raises the oldest position to the highest dropped, durably (a rewrite).</summary>
    /// <exception cref="IOException">The rewrite failed; nothing changed.</exception>
    public void DropMarks(DateTimeOffset cutoff)
    {
        lock (_lock)
        {
            var dropped = _latest.Values.Where(r => r.DeletedAt <= cutoff).ToList();
            if (dropped.Count == 0)
            {
                return;
            }

            var kept = _latest.Where(r => !(r.Value.DeletedAt <= cutoff)).ToDictionary(StringComparer.Ordinal);
            Rewrite(kept, Math.Max(_oldest, dropped.Max(static r => r.Position)));
        }
    }

    /// <summary>
    /// At the owner's clean dispose: writes what is kept, makes the journal durable (after
    /// <paramref name="beforeClose"/>, which makes the partition files' renames durable when they are
    /// not yet), then appends the closed line and makes it durable. Any failure leaves the journal
    /// unclosed, to be repaired at the next open.
    /// </summary>
    public void Close(Action? beforeClose)
    {
        lock (_lock)
        {
            if (_file is not { } file)
            {
                return;
            }

            try
            {
                if (!_suspect)
                {
                    Flush();
                    beforeClose?.Invoke();
                    file.Sync();
                    file.Write(s_closed, _length);
                    _length += s_closed.Length;

                    // Durable too, so a power loss after a clean dispose needs no repair.
                    file.Sync();
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                // Not closed: the next open repairs it.
            }
            finally
            {
                _file = null;
                CloseQuietly(file);
            }
        }
    }

    /// <inheritdoc/>
    public void Dispose() => Close(null);

    /// <summary>Parses a journal's bytes.</summary>
    /// <exception cref="CorruptDataException">Its header is damaged.</exception>
    /// <exception cref="UnsupportedFormatException">It is of a newer format.</exception>
    internal static JournalContents Parse(ReadOnlySpan<byte> bytes, string path)
    {
        var latest = new Dictionary<string, JournalRecord>(StringComparer.Ordinal);
        long oldest = 0;
        long current = 0;
        var records = 0;
        var closed = false;
        var header = false;
        var ended = false;
        int end;
        while ((end = bytes.IndexOf((byte)'\n')) >= 0)
        {
            var line = bytes[..end];
            bytes = bytes[(end + 1)..];
            if (!TryParseLine(line, out var parsed))
            {
                if (!header)
                {
                    throw new CorruptDataException(path, "the first line is not the journal's header");
                }

                // Only a power loss leaves such a line (appends are not fsynced): what follows it is lost too.
                ended = true;
                break;
            }

            if (!header)
            {
                if (parsed.Format is not { } format)
                {
                    throw new CorruptDataException(path, "the first line is not the journal's header");
                }

                if (format > CurrentFormat)
                {
                    throw new UnsupportedFormatException(path, format, CurrentFormat);
                }

                oldest = parsed.Oldest;
                header = true;
                continue;
            }

            closed = parsed.Closed;
            if (parsed.Record is { } record)
            {
                records++;
                current = Math.Max(current, record.Position);
                if (!latest.TryGetValue(record.Partition, out var previous) || previous.Position < record.Position)
                {
                    latest[record.Partition] = record;
                }
            }
        }

        // A last line without its newline is an append in progress (or one a crash cut): ignored.
        return new JournalContents(oldest, Math.Max(current, oldest), latest, records, header && closed && !ended && bytes.IsEmpty);
    }

    /// <summary>Writes what failed appends kept (under the lock).</summary>
    private void Flush()
    {
        if (_pending.WrittenCount == 0)
        {
            return;
        }

        ObjectDisposedException.ThrowIf(_file is null, this);

        // At the end of what was written whole: a torn earlier try is overwritten.
        _file.Write(_pending.WrittenSpan, _length);
        _length += _pending.WrittenCount;
        _records += _pendingRecords;
        _pendingRecords = 0;
        _pending.ResetWrittenCount();
    }

    /// <summary>
    /// Replaces the journal (under the lock) by one holding <paramref name="latest"/> — one record per
    /// partition, in position order — and <paramref name="oldest"/>, as every file is replaced: temp
    /// file, fsync, rename, fsync of the directory. The new file stays open for appends.
    /// </summary>
    private void Rewrite(Dictionary<string, JournalRecord> latest, long oldest)
    {
        var content = new ArrayBufferWriter<byte>(64 + (latest.Count * 64));
        WriteHeader(content, oldest);
        foreach (var record in latest.Values.OrderBy(static r => r.Position))
        {
            WriteLine(content, record);
        }

        var temp = JsonBackend.TempPath(Path);
        var file = _files.CreateNew(temp);
        try
        {
            file.Write(content.WrittenSpan, 0);
            file.Sync();
            _files.Rename(temp, Path);
        }
        catch
        {
            CloseQuietly(file);
            JsonBackend.TryDelete(_files, temp);
            throw;
        }

        // In place: from here on the new file is the journal, whatever its directory's fsync does.
        var previous = _file;
        _file = file;
        _latest = latest;
        _oldest = oldest;
        _length = content.WrittenCount;
        _records = latest.Count;
        _pending.ResetWrittenCount();
        _pendingRecords = 0;
        if (previous is not null)
        {
            CloseQuietly(previous);
        }

        _files.SyncDirectory(_root);
    }

    /// <summary>Gives every partition file a record that matches it (and every partition whose file is gone a mark) after the positions so far.</summary>
    private static void Repair(Dictionary<string, JournalRecord> latest, ref long counter, IReadOnlyCollection<string> partitions, Func<string, long?> revisionOf, DateTimeOffset now)
    {
        var present = new HashSet<string>(StringComparer.Ordinal);
        foreach (var key in partitions)
        {
            present.Add(key);
            var revision = revisionOf(key);
            var known = latest.TryGetValue(key, out var record);
            if (!known || record.DeletedAt is not null || revision is null || record.Revision != revision)
            {
                // An unreadable file is listed again at the revision last known: its reader meets the damage.
                latest[key] = new JournalRecord(++counter, key, revision ?? (known ? record.Revision : 0), null);
            }
        }

        foreach (var gone in latest.Values.Where(r => r.DeletedAt is null && !present.Contains(r.Partition)).OrderBy(static r => r.Position).ToList())
        {
            latest[gone.Partition] = gone with { Position = ++counter, DeletedAt = now };
        }
    }

    private static void WriteHeader(ArrayBufferWriter<byte> buffer, long oldest)
    {
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteNumber("format"u8, CurrentFormat);
            writer.WriteNumber("oldest"u8, oldest);
            writer.WriteEndObject();
        }

        buffer.Write("\n"u8);
    }

    private static void WriteLine(ArrayBufferWriter<byte> buffer, JournalRecord record)
    {
        using (var writer = new Utf8JsonWriter(buffer))
        {
            writer.WriteStartObject();
            writer.WriteNumber("position"u8, record.Position);
            writer.WriteString("partition"u8, record.Partition);
            writer.WriteNumber("revision"u8, record.Revision);
            if (record.DeletedAt is { } deleted)
            {
                PartitionFile.WriteTimestamp(writer, "deleted"u8, deleted);
            }

            writer.WriteEndObject();
        }

        buffer.Write("\n"u8);
    }

    /// <summary>Parses one line: a header (format and oldest position), a record, or the closed line.</summary>
    private static bool TryParseLine(ReadOnlySpan<byte> line, out Line parsed)
    {
        parsed = default;
        try
        {
            var reader = new Utf8JsonReader(line);
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            {
                return false;
            }

            long? format = null, oldest = null, position = null, revision = null;
            string? partition = null;
            DateTimeOffset? deleted = null;
            var closed = false;
            while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
            {
                var name = reader.GetString();
                if (!reader.Read())
                {
                    return false;
                }

                switch (name)
                {
                    case "format":
                        format = reader.GetInt64();
                        break;
                    case "oldest":
                        oldest = reader.GetInt64();
                        break;
                    case "position":
                        position = reader.GetInt64();
                        break;
                    case "partition":
                        partition = reader.GetString();
                        break;
                    case "revision":
                        revision = reader.GetInt64();
                        break;
                    case "deleted":
                        if (!PartitionFile.TryParseTimestamp(reader.GetString(), out var at))
                        {
                            return false;
                        }

                        deleted = at;
                        break;
                    case "closed":
                        closed = reader.GetBoolean();
                        break;
                    default:
                        reader.Skip();
                        break;
                }
            }

            if (reader.TokenType != JsonTokenType.EndObject || reader.Read())
            {
                return false;
            }

            if (format is not null)
            {
                parsed = new Line(format, oldest ?? 0, null, false);
                return oldest is >= 0;
            }

            if (position is > 0 && partition is not null && revision is >= 0)
            {
                parsed = new Line(null, 0, new JournalRecord(position.Value, partition, revision.Value, deleted), false);
                return true;
            }

            parsed = new Line(null, 0, null, closed);
            return closed;
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException or FormatException)
        {
            return false;
        }
    }

    private static void CloseQuietly(IWritableFile file)
    {
        try
        {
            file.Dispose();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // Its data is written; a failed close loses nothing more than the write would have.
        }
    }

    private readonly record struct Line(long? Format, long Oldest, JournalRecord? Record, bool Closed);
}

/// <summary>A record of the journal: a partition's change at <paramref name="Position"/>, or its delete's mark when <paramref name="DeletedAt"/> is set.</summary>
/// <param name="Position">The store-wide position.</param>
/// <param name="Partition">The partition.</param>
/// <param name="Revision">Its revision after the change (a mark: when it was deleted).</param>
/// <param name="DeletedAt">When it was deleted; <see langword="null"/> for a live partition.</param>
internal readonly record struct JournalRecord(long Position, string Partition, long Revision, DateTimeOffset? DeletedAt);

/// <summary>What a journal holds, read whole.</summary>
/// <param name="Oldest">The oldest position a reader can resume after (besides 0).</param>
/// <param name="Current">The current position: the highest in the file (at least the oldest).</param>
/// <param name="Latest">Each partition's latest record.</param>
/// <param name="Records">How many records the file holds.</param>
/// <param name="Closed">Whether its last line is the closed line of a clean dispose.</param>
internal sealed record JournalContents(long Oldest, long Current, Dictionary<string, JournalRecord> Latest, int Records, bool Closed)
{
    /// <summary>The cursor's page after <paramref name="afterPosition"/>.</summary>
    public ChangedPartitions Page(long afterPosition, int limit, long revisionFloor)
        => ChangedPartitionPages.Cut(
            Latest.Values.Where(r => r.Position > afterPosition).Select(static r => new PartitionChange(r.Partition, r.Revision, r.DeletedAt is not null, r.Position)),
            limit,
            Current,
            Oldest,
            revisionFloor);
}
