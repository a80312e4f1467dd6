using System.Diagnostics.CodeAnalysis;

namespace Storage.Engine;

/// <summary>
/// A partition a backend holds in memory (its working copy, or a snapshot read from its file), as
/// <see cref="Load"/> reads it into the <see cref="PartitionState"/> a write needs.
/// </summary>
[Experimental(Experiments.BackendInterface)]
public interface IPartitionImage
{
    /// <summary>The stored row of a document, expired or not; <see langword="null"/> when there is none.</summary>
    /// <param name="id">The document.</param>
    /// <returns>Its version, creation time and expiry.</returns>
    DocumentRow? Document(DocumentId id);

    /// <summary>A sequence's value.</summary>
    /// <param name="name">The sequence.</param>
    /// <param name="value">Its value, when it exists.</param>
    /// <returns>Whether it exists.</returns>
    bool TryGetSequence(string name, out long value);

    /// <summary>A stream's version (0 when it does not exist).</summary>
    /// <param name="stream">The stream.</param>
    /// <returns>The version.</returns>
    long StreamVersion(string stream);

    /// <summary>The id of a stored event.</summary>
    /// <param name="stream">The stream.</param>
    /// <param name="version">The event's version, from 1 to <see cref="StreamVersion"/>.</param>
    /// <returns>The id.</returns>
    Guid EventId(string stream, long version);

    /// <summary>
    /// Loads what <paramref name="reads"/> names from <paramref name="image"/>: the documents (expired
    /// or not), the sequences, each stream's version and the stored event ids its appends compare.
    /// </summary>
    /// <param name="state">The state to fill (its partition, existence, revision and floor set by the caller).</param>
    /// <param name="reads">What the write reads.</param>
    /// <param name="image">The partition.</param>
    /// <returns><paramref name="state"/>.</returns>
    static PartitionState Load(PartitionState state, PartitionReads reads, IPartitionImage image)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(reads);
        ArgumentNullException.ThrowIfNull(image);
        foreach (var id in reads.Documents)
        {
            state.Documents[id] = image.Document(id);
        }

        foreach (var name in reads.Sequences)
        {
            if (image.TryGetSequence(name, out var value))
            {
                state.Sequences[name] = value;
            }
        }

        foreach (var name in reads.Streams)
        {
            var version = image.StreamVersion(name);
            var stream = state.Streams[name] = new StreamState(version);
            foreach (var (first, last) in reads.IdRanges(name, version))
            {
                for (var v = first; v <= last; v++)
                {
                    stream.StoredIds[v] = image.EventId(name, v);
                }
            }
        }

        return state;
    }
}
