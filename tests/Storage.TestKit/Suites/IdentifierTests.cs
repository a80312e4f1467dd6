using Storage.Internal;
using static Storage.Conformance.StoreAssert;
using static Storage.Conformance.TestData;

namespace Storage.Conformance;

/// <summary>Partition keys, document keys and names: what is valid, that valid ones are stored safely and distinctly, and that invalid ones are rejected before any I/O.</summary>
/// <typeparam name="TFixture">The backend's fixture.</typeparam>
public abstract class IdentifierTests<TFixture>(TFixture fixture) : StoreTestBase<TFixture>(fixture)
    where TFixture : StoreFixture
{
    [Fact]
    public async Task Keys_differing_only_in_case_are_different_partitions_and_documents()
    {
        var store = await CreateStoreAsync();
        string[] spellings = ["Alice", "alice", "ALICE"];
        foreach (var partition in spellings)
        {
            foreach (var key in spellings)
            {
                await store.PutAsync(partition, Collection, key, $$"""{"p":"{{partition}}","k":"{{key}}"}""");
            }
        }

        foreach (var partition in spellings)
        {
            foreach (var key in spellings)
            {
                Document(await store.GetAsync(partition, Collection, key), partition, Collection, key, $$"""{"p":"{{partition}}","k":"{{key}}"}""", version: Array.IndexOf(spellings, key) + 1);
            }

            Assert.Equal(["ALICE", "Alice", "alice"], await ListKeysAsync(store, partition, Collection));
        }

        Assert.Equal(["ALICE", "Alice", "alice"], (await ListAllPartitionsAsync(store)).Select(p => p.Partition));
    }

    [Fact]
    public async Task Nfc_and_nfd_spellings_of_one_word_are_different_keys_and_partitions()
    {
        var store = await CreateStoreAsync();
        const string Nfc = "caf\u00e9";
        const string Nfd = "cafe\u0301";
        await store.PutAsync(Nfc, Collection, Nfc, "1");
        await store.PutAsync(Nfc, Collection, Nfd, "2");
        await store.PutAsync(Nfd, Collection, Nfc, "3");

        Document(await store.GetAsync(Nfc, Collection, Nfc), Nfc, Collection, Nfc, "1", 1);
        Document(await store.GetAsync(Nfc, Collection, Nfd), Nfc, Collection, Nfd, "2", 2);
        Document(await store.GetAsync(Nfd, Collection, Nfc), Nfd, Collection, Nfc, "3", 1);
        Assert.Null(await store.GetAsync(Nfd, Collection, Nfd));
        Assert.Equal([Nfd, Nfc], await ListKeysAsync(store, Nfc, Collection));
        Assert.Equal([Nfd, Nfc], (await ListAllPartitionsAsync(store)).Select(p => p.Partition));
    }

    [Fact]
    public async Task Tricky_and_long_keys_round_trip_as_partition_keys()
    {
        var store = await CreateStoreAsync();
        string[] keys = [.. TrickyKeys, .. LongKeys];
        for (var i = 0; i < keys.Length; i++)
        {
            await store.PutAsync(keys[i], Collection, "doc", $$"""{"i":{{i}}}""");
        }

        for (var i = 0; i < keys.Length; i++)
        {
            Document(await store.GetAsync(keys[i], Collection, "doc"), keys[i], Collection, "doc", $$"""{"i":{{i}}}""", 1);
            Assert.Equal(["doc"], await ListKeysAsync(store, keys[i], Collection));
        }

        var partitions = await ListAllPartitionsAsync(store);
        Assert.Equal(keys.Order(StorageKeyComparer.Instance), partitions.Select(p => p.Partition));
        Assert.All(partitions, p => Assert.Equal(1, p.Revision));
    }

    [Fact]
    public async Task Tricky_and_long_keys_round_trip_as_document_keys()
    {
        var store = await CreateStoreAsync();
        string[] keys = [.. TrickyKeys, .. LongKeys];
        var result = await store.CommitAsync("p", [.. keys.Select((k, i) => WriteOperation.Put(Collection, k, $"[{i}]"))]);

        for (var i = 0; i < keys.Length; i++)
        {
            Document(await store.GetAsync("p", Collection, keys[i]), "p", Collection, keys[i], $"[{i}]", result.Revision);
        }

        Assert.Equal(keys.Order(StorageKeyComparer.Instance), await ListKeysAsync(store, "p", Collection));
        Assert.Equal(keys.Order(StorageKeyComparer.Instance), await ListKeysAsync(store, "p", Collection, new ListOptions { Limit = 3 }));
    }

    [Theory]
    [InlineData("a")]
    [InlineData("\u00e9")]
    [InlineData("\u20ac")]
    [InlineData("😀")]
    public async Task Partition_key_of_exactly_the_byte_limit_is_accepted(string unit)
    {
        var store = await CreateStoreAsync();
        var partition = OfUtf8Length(unit, StoreLimits.MaxPartitionKeyBytes);

        await store.PutAsync(partition, Collection, "k", "true");
        Assert.Equal(1, await store.IncrementSequenceAsync(partition, "seq"));

        Document(await store.GetAsync(partition, Collection, "k"), partition, Collection, "k", "true", 1);
        Assert.Equal([new PartitionInfo(partition, 2)], await ListAllPartitionsAsync(store));
        Assert.True(await store.DeletePartitionAsync(partition));
        await EmptyAsync(store);
    }

    [Theory]
    [InlineData("a")]
    [InlineData("\u00e9")]
    [InlineData("\u20ac")]
    [InlineData("😀")]
    public async Task Partition_key_one_byte_past_the_limit_is_rejected_before_any_io(string unit)
    {
        var store = await CreateStoreAsync();
        var partition = OfUtf8Length(unit, StoreLimits.MaxPartitionKeyBytes + 1);

        await AllPartitionCallsRejectAsync(store, partition, ErrorMessages.TooLong("partition key", StoreLimits.MaxPartitionKeyBytes + 1, StoreLimits.MaxPartitionKeyBytes));
    }

    [Theory]
    [InlineData("a")]
    [InlineData("\u00e9")]
    [InlineData("\u20ac")]
    [InlineData("😀")]
    public async Task Document_key_of_exactly_the_byte_limit_is_accepted(string unit)
    {
        var store = await CreateStoreAsync();
        var key = OfUtf8Length(unit, StoreLimits.MaxDocumentKeyBytes);

        await store.PutAsync("p", Collection, key, "1");
        Document(await store.GetAsync("p", Collection, key), "p", Collection, key, "1", 1);
        Assert.Equal([key], await ListKeysAsync(store, "p", Collection, new ListOptions { Prefix = key }));
        Assert.True(await store.DeleteAsync("p", Collection, key));
        Assert.Null(await store.GetAsync("p", Collection, key));
    }

    [Theory]
    [InlineData("a")]
    [InlineData("\u00e9")]
    [InlineData("\u20ac")]
    [InlineData("😀")]
    public async Task Document_key_one_byte_past_the_limit_is_rejected_before_any_io(string unit)
    {
        var store = await CreateStoreAsync();
        var key = OfUtf8Length(unit, StoreLimits.MaxDocumentKeyBytes + 1);

        await AllDocumentKeyCallsRejectAsync(store, key, what => ErrorMessages.TooLong(what, StoreLimits.MaxDocumentKeyBytes + 1, StoreLimits.MaxDocumentKeyBytes));
    }

    [Theory]
    [MemberData(nameof(InvalidKeyLabels), MemberType = typeof(TestData))]
    public async Task Invalid_partition_key_is_rejected_before_any_io(string label)
    {
        var store = await CreateStoreAsync();
        var partition = InvalidKeys[label];

        await AllPartitionCallsRejectAsync(store, partition, InvalidKeyMessage(partition, "partition key"));
    }

    [Theory]
    [MemberData(nameof(InvalidKeyLabels), MemberType = typeof(TestData))]
    public async Task Invalid_document_key_is_rejected_before_any_io(string label)
    {
        var store = await CreateStoreAsync();
        var key = InvalidKeys[label];

        await AllDocumentKeyCallsRejectAsync(store, key, what => InvalidKeyMessage(key, what));
    }

    [Fact]
    public async Task Null_identifiers_are_rejected_with_ArgumentNullException()
    {
        var store = await CreateStoreAsync();

        await Assert.ThrowsAsync<ArgumentNullException>(async () => await store.GetAsync(null!, Collection, "k"));
        await Assert.ThrowsAsync<ArgumentNullException>(async () => await store.GetAsync("p", null!, "k"));
        await Assert.ThrowsAsync<ArgumentNullException>(async () => await store.GetAsync("p", Collection, null!));
        await Assert.ThrowsAsync<ArgumentNullException>(async () => await store.CommitAsync(null!, [WriteOperation.Put(Collection, "k", "1")]));
        await Assert.ThrowsAsync<ArgumentNullException>(async () => await store.CommitAsync("p", null!));
        await Assert.ThrowsAsync<ArgumentNullException>(async () => await store.ListAsync(null!, Collection));
        await Assert.ThrowsAsync<ArgumentNullException>(async () => await store.ListAsync("p", null!));
        await Assert.ThrowsAsync<ArgumentNullException>(async () => await store.IncrementSequenceAsync(null!, "s"));
        await Assert.ThrowsAsync<ArgumentNullException>(async () => await store.IncrementSequenceAsync("p", null!));
        await Assert.ThrowsAsync<ArgumentNullException>(async () => await store.GetSequenceAsync(null!, "s"));
        await Assert.ThrowsAsync<ArgumentNullException>(async () => await store.GetSequenceAsync("p", null!));
        await Assert.ThrowsAsync<ArgumentNullException>(async () => await store.DeletePartitionAsync(null!));
        Assert.Throws<ArgumentNullException>(() => WriteOperation.Put(null!, "k", "1"));
        Assert.Throws<ArgumentNullException>(() => WriteOperation.Put(Collection, null!, "1"));
        Assert.Throws<ArgumentNullException>(() => WriteOperation.Put(Collection, "k", (string)null!));
        Assert.Throws<ArgumentNullException>(() => WriteOperation.Delete(null!, "k"));
        Assert.Throws<ArgumentNullException>(() => WriteOperation.Delete(Collection, null!));
        await EmptyAsync(store);
    }

    [Theory]
    [MemberData(nameof(ValidNames), MemberType = typeof(TestData))]
    public async Task Valid_collection_and_sequence_names_are_accepted(string name)
    {
        var store = await CreateStoreAsync();

        await store.PutAsync("p", name, "k", "1");
        Assert.Equal(1, await store.IncrementSequenceAsync("p", name));

        Document(await store.GetAsync("p", name, "k"), "p", name, "k", "1", 1);
        Assert.Equal(["k"], await ListKeysAsync(store, "p", name));
        Assert.Equal(1, await store.GetSequenceAsync("p", name));
    }

    [Theory]
    [MemberData(nameof(InvalidNames), MemberType = typeof(TestData))]
    public async Task Invalid_collection_name_is_rejected_before_any_io(string name)
    {
        var store = await CreateStoreAsync();
        var message = ErrorMessages.InvalidName(name);

        AssertMessage(message, Assert.ThrowsAny<ArgumentException>(() => WriteOperation.Put(name, "k", "1")));
        AssertMessage(message, Assert.ThrowsAny<ArgumentException>(() => WriteOperation.Delete(name, "k")));
        AssertMessage(message, await ThrowsArgumentAsync(async () => await store.GetAsync("p", name, "k")));
        AssertMessage(message, await ThrowsArgumentAsync(async () => await store.ListAsync("p", name)));
        await EmptyAsync(store);
    }

    [Theory]
    [MemberData(nameof(InvalidNames), MemberType = typeof(TestData))]
    public async Task Invalid_sequence_name_is_rejected_before_any_io(string name)
    {
        var store = await CreateStoreAsync();
        var message = ErrorMessages.InvalidName(name);

        AssertMessage(message, await ThrowsArgumentAsync(async () => await store.IncrementSequenceAsync("p", name)));
        AssertMessage(message, await ThrowsArgumentAsync(async () => await store.GetSequenceAsync("p", name)));
        await EmptyAsync(store);
    }

    // Every call that takes a partition key rejects it, and none of them leaves anything behind.
    private static async Task AllPartitionCallsRejectAsync(IStore store, string partition, string message)
    {
        AssertMessage(message, await ThrowsArgumentAsync(async () => await store.GetAsync(partition, Collection, "k")));
        AssertMessage(message, await ThrowsArgumentAsync(async () => await store.CommitAsync(partition, [WriteOperation.Put(Collection, "k", "1")])));
        AssertMessage(message, await ThrowsArgumentAsync(async () => await store.CommitAsync(partition, [WriteOperation.Delete(Collection, "k")])));
        AssertMessage(message, await ThrowsArgumentAsync(async () => await store.ListAsync(partition, Collection)));
        AssertMessage(message, await ThrowsArgumentAsync(async () => await store.IncrementSequenceAsync(partition, "seq")));
        AssertMessage(message, await ThrowsArgumentAsync(async () => await store.GetSequenceAsync(partition, "seq")));
        AssertMessage(message, await ThrowsArgumentAsync(async () => await store.DeletePartitionAsync(partition)));
        await EmptyAsync(store);
    }

    // Every call that takes a document key, or a string compared against keys, rejects it.
    private static async Task AllDocumentKeyCallsRejectAsync(IStore store, string key, Func<string, string> message)
    {
        AssertMessage(message("document key"), Assert.ThrowsAny<ArgumentException>(() => WriteOperation.Put(Collection, key, "1")));
        AssertMessage(message("document key"), Assert.ThrowsAny<ArgumentException>(() => WriteOperation.Delete(Collection, key)));
        AssertMessage(message("document key"), await ThrowsArgumentAsync(async () => await store.GetAsync("p", Collection, key)));
        AssertMessage(message("prefix"), await ThrowsArgumentAsync(async () => await store.ListAsync("p", Collection, new ListOptions { Prefix = key })));
        AssertMessage(message("start key"), await ThrowsArgumentAsync(async () => await store.ListAsync("p", Collection, new ListOptions { StartKey = key })));
        AssertMessage(message("end key"), await ThrowsArgumentAsync(async () => await store.ListAsync("p", Collection, new ListOptions { EndKey = key })));
        await EmptyAsync(store);
    }

    private static void AssertMessage(string expected, ArgumentException actual)
        => Assert.StartsWith(expected, actual.Message, StringComparison.Ordinal);
}
