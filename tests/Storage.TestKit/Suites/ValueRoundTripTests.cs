using System.Text.Json;
using Storage.Internal;
using static Storage.Conformance.StoreAssert;
using static Storage.Conformance.TestData;

namespace Storage.Conformance;

/// <summary>Values come back byte for byte — key order, number spelling, escapes, white space — and invalid JSON is rejected.</summary>
/// <typeparam name="TFixture">The backend's fixture.</typeparam>
public abstract class ValueRoundTripTests<TFixture>(TFixture fixture) : StoreTestBase<TFixture>(fixture)
    where TFixture : StoreFixture
{
    public static TheoryData<string> ExactValues { get; } = new()
    {
        """{"b":1,"a":2}""",
        """{"z":{"y":{"x":[3,2,1]}},"a":null}""",
        """{"a":1,"a":2}""",
        "1.0",
        "1",
        "1e3",
        "1E+03",
        "-0",
        "-0.0",
        "12345678901234567890",
        "-123456789012345678901234567890",
        "0.1000000000000000000000000000000001",
        "3.14159265358979323846264338327950288419716939937510",
        "1e400",
        "5e-400",
        "\"\\u00e9\"",
        "\"\u00e9\"",
        "\"\\ud83d\\ude00\"",
        "\"😀\"",
        "\"\\u0000\"",
        "\"a\\/b\\\\c\\\"d\\n\"",
        "\"\uFFFF\U0010FFFF\"",
        """{ "a" : [ 1 , 2 ] ,	"b":{ },"c" :[]}""",
        "{\n  \"pretty\": [\r\n    1,\n    2\n  ]\n}",
        "[[[[]]],[1,[2,[3,[4,{}]]]]]",
        "null",
        "true",
        "false",
        "\"\"",
        "[]",
        "{}",
    };

    public static TheoryData<string> InvalidTexts { get; } = new()
    {
        "",
        "   ",
        "\r\n\t",
        "{",
        "}",
        "[1,2",
        "1 2",
        "{} {}",
        "{}{}",
        "\"a\" \"b\"",
        """{"a":1,}""",
        "[1,]",
        "// comment\n1",
        "/* comment */ 1",
        "1 // comment",
        "{'a':1}",
        "{a:1}",
        "NaN",
        "Infinity",
        "undefined",
        "01",
        "1.",
        ".5",
        "+1",
        "\"abc",
        "\"tab\there\"",
        "\"\\x41\"",
        "True",
    };

    public static TheoryData<byte[]> InvalidUtf8 { get; } = new()
    {
        new byte[] { (byte)'"', 0xFF, (byte)'"' },
        new byte[] { (byte)'"', 0xC3, (byte)'"' },
        new byte[] { (byte)'"', 0xC0, 0xAF, (byte)'"' },
        new byte[] { (byte)'"', 0xED, 0xA0, 0x80, (byte)'"' },
        new byte[] { (byte)'"', 0xF4, 0x90, 0x80, 0x80, (byte)'"' },
        new byte[] { (byte)'"', 0x80, (byte)'"' },
        new byte[] { (byte)'"', (byte)'a', (byte)'"', 0xFF },
        new byte[] { (byte)'{', (byte)'"', 0xFE, (byte)'"', (byte)':', (byte)'1', (byte)'}' },
    };

    [Theory]
    [MemberData(nameof(ExactValues))]
    public async Task Value_comes_back_byte_for_byte(string json)
    {
        var store = await CreateStoreAsync();

        await store.PutAsync("p", Collection, "text", json);
        await store.PutAsync("p", Collection, "utf8", Utf8(json).AsMemory());

        Document(await store.GetAsync("p", Collection, "text"), "p", Collection, "text", json, 1);
        Document(await store.GetAsync("p", Collection, "utf8"), "p", Collection, "utf8", json, 2);
        var listed = await ListAllAsync(store, "p", Collection);
        Assert.Equal(2, listed.Count);
        Assert.All(listed, d => Assert.Equal(Utf8(json), d.Value.ToArray()));
    }

    [Fact]
    public async Task Surrounding_white_space_is_trimmed_and_inner_white_space_kept()
    {
        var store = await CreateStoreAsync();
        const string Json = " \r\n\t { \"a\" :\t[ 1 ,\n2 ] } \n\t\r ";

        Assert.Equal(Utf8("{ \"a\" :\t[ 1 ,\n2 ] }"), WriteOperation.Put(Collection, "k", Json).Value.ToArray());
        await store.PutAsync("p", Collection, "k", Json);

        Document(await store.GetAsync("p", Collection, "k"), "p", Collection, "k", "{ \"a\" :\t[ 1 ,\n2 ] }", 1);
    }

    [Fact]
    public async Task Value_is_copied_when_the_operation_is_created()
    {
        var store = await CreateStoreAsync();
        var buffer = Utf8("[1,2,3]");
        var operation = WriteOperation.Put(Collection, "k", buffer.AsMemory());

        await store.CommitAsync("p", [operation]);
        buffer[1] = (byte)'9';

        Document(await store.GetAsync("p", Collection, "k"), "p", Collection, "k", "[1,2,3]", 1);
    }

    [Theory]
    [MemberData(nameof(InvalidTexts))]
    public async Task Invalid_json_text_is_rejected_and_the_stored_value_kept(string json)
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "k", "\"original\"");
        var before = await store.GetAsync("p", Collection, "k");

        AssertInvalidJson(Assert.ThrowsAny<ArgumentException>(() => WriteOperation.Put(Collection, "k", json)));
        AssertInvalidJson(await ThrowsArgumentAsync(async () => await store.PutAsync("p", Collection, "k", json)));
        AssertInvalidJson(await ThrowsArgumentAsync(async () => await store.PutAsync("p", Collection, "k", Utf8(json).AsMemory())));

        await UnchangedAsync(store, before!);
        Assert.Equal(1, await RevisionAsync(store, "p"));
    }

    [Theory]
    [MemberData(nameof(InvalidUtf8))]
    public async Task Invalid_utf8_is_rejected_and_the_stored_value_kept(byte[] utf8)
    {
        var store = await CreateStoreAsync();
        await store.PutAsync("p", Collection, "k", "\"original\"");
        var before = await store.GetAsync("p", Collection, "k");

        AssertInvalidJson(await ThrowsArgumentAsync(async () => await store.PutAsync("p", Collection, "k", utf8.AsMemory())));

        await UnchangedAsync(store, before!);
    }

    [Fact]
    public async Task Json_text_with_an_unpaired_surrogate_is_rejected()
    {
        var store = await CreateStoreAsync();

        AssertInvalidJson(Assert.ThrowsAny<ArgumentException>(() => WriteOperation.Put(Collection, "k", "\"\uD800\"")));
        AssertInvalidJson(Assert.ThrowsAny<ArgumentException>(() => WriteOperation.Put(Collection, "k", "\"\uDC00x\"")));
        await EmptyAsync(store);
    }

    [Fact]
    public async Task Typed_value_round_trips_through_a_source_generated_context()
    {
        var store = await CreateStoreAsync();
        var mood = new Mood(
            "caf\u00e9 😀 \"quoted\"",
            long.MaxValue,
            0.1234567890123456789012345678m,
            new DateTimeOffset(2031, 2, 3, 4, 5, 6, 789, TimeSpan.FromHours(5.5)),
            ["a", "\u00e9", "\U00010000"],
            null);

        var version = await store.PutAsync("p", Collection, "mood", mood, ConformanceJsonContext.Default.Mood);
        var read = await store.GetAsync("p", Collection, "mood", ConformanceJsonContext.Default.Mood);

        Assert.NotNull(read);
        Assert.Equal(version, read.Version);
        Assert.Equal(mood.Name, read.Value.Name);
        Assert.Equal(mood.Score, read.Value.Score);
        Assert.Equal(mood.Ratio, read.Value.Ratio);
        Assert.Equal(mood.At, read.Value.At);
        Assert.Equal(mood.At.Offset, read.Value.At.Offset);
        Assert.Equal(mood.Tags, read.Value.Tags);
        Assert.Null(read.Value.Note);
        var raw = await store.GetAsync("p", Collection, "mood");
        Assert.Equal(JsonSerializer.SerializeToUtf8Bytes(mood, ConformanceJsonContext.Default.Mood), raw!.Value.ToArray());
        Assert.Null(await store.GetAsync("p", Collection, "missing", ConformanceJsonContext.Default.Mood));
    }

    private static void AssertInvalidJson(ArgumentException e)
        => Assert.StartsWith(ErrorMessages.InvalidJson(string.Empty), e.Message, StringComparison.Ordinal);
}
