using System.Globalization;
using Storage.Benchmarks.Drivers;
using Storage.Benchmarks.Scenarios;

namespace Storage.Benchmarks.Harness;

/// <summary>
/// Checks that a raw baseline answers a short sequence of calls as the store does: every kind of
/// call the scenarios make, with the outcomes they count (a conditional put written or refused and
/// the version given back, a stream append accepted or refused, a listing's size, a lookup found or
/// not). The scenarios only check what they expect of each driver alone; a baseline that refused or
/// accepted where the store does not would measure other work.
/// </summary>
internal static class Agreement
{
    /// <summary>Runs the calls on both (fresh, opened with <see cref="Data.EmailIndex"/>); returns how many; throws at the first answer that differs.</summary>
    /// <exception cref="InvalidOperationException">The baseline answered a call differently.</exception>
    public static async Task<int> CheckAsync(IDriver store, IDriver raw)
    {
        var expected = await AnswersAsync(store);
        var actual = await AnswersAsync(raw);
        for (var i = 0; i < expected.Count; i++)
        {
            if (!string.Equals(expected[i], actual[i], StringComparison.Ordinal))
            {
                throw new InvalidOperationException($"{raw.Name} does not answer as the store: call {i + 1}, store: {expected[i]}; {raw.Name}: {actual[i]}.");
            }
        }

        return expected.Count;
    }

    private static async Task<List<string>> AnswersAsync(IDriver driver)
    {
        var answers = new List<string>();
        void Say(string call, object answer) => answers.Add(string.Create(CultureInfo.InvariantCulture, $"{call} → {answer}"));

        var docs = Data.Partition("c", 0);
        await driver.SeedAsync(docs, Data.Docs(0, 10));
        Say("version of k000003", await driver.GetVersionAsync(docs, Data.Key(3)));
        Say("get k000003", await driver.GetAsync(docs, Data.Key(3)));
        Say("get a missing key", await driver.GetAsync(docs, "m000003"));
        Say("get in a missing partition", await driver.GetAsync(Data.Partition("c", 9), Data.Key(3)));
        Say("version in a missing partition", await driver.GetVersionAsync(Data.Partition("c", 9), Data.Key(3)));
        Say("put k000003 at 1", await driver.PutAsync(docs, Data.Key(3), Data.Value(1), 1));
        Say("put k000003 at 1 again", await driver.PutAsync(docs, Data.Key(3), Data.Value(2), 1));
        Say("put k000004 at 1", await driver.PutAsync(docs, Data.Key(4), Data.Value(3), 1));
        Say("put a missing key at 1", await driver.PutAsync(docs, Data.Key(99), Data.Value(4), 1));
        Say("put in a missing partition", await driver.PutAsync(Data.Partition("c", 9), Data.Key(3), Data.Value(4), 1));
        Say("version of k000004", await driver.GetVersionAsync(docs, Data.Key(4)));
        Say("list k00000, 100", await driver.ListAsync(docs, "k00000", 100));
        Say("list k00000, 3", await driver.ListAsync(docs, "k00000", 3));
        Say("list k0001, 100", await driver.ListAsync(docs, "k0001", 100));
        await driver.PutBatchAsync(docs, Data.Docs(5, 10, valueSeed: 7));
        Say("list k00001 after a batch", await driver.ListAsync(docs, "k00001", 100));
        Say("list k0000 after a batch", await driver.ListAsync(docs, "k0000", 100));
        Say("version of k000005", await driver.GetVersionAsync(docs, Data.Key(5)));
        Say("version of k000014", await driver.GetVersionAsync(docs, Data.Key(14)));
        Say("version of k000003", await driver.GetVersionAsync(docs, Data.Key(3)));

        // Appends take the partition's next revision too: the put after them must see it.
        Say("append to a new stream at 0", await driver.AppendAsync(docs, "s", Data.Value(5), 0));
        Say("append at 0 again", await driver.AppendAsync(docs, "s", Data.Value(6), 0));
        Say("append at 2", await driver.AppendAsync(docs, "s", Data.Value(6), 2));
        Say("append at 1", await driver.AppendAsync(docs, "s", Data.Value(6), 1));
        Say("append to a missing stream at 1", await driver.AppendAsync(docs, "t", Data.Value(6), 1));
        var known = await driver.GetVersionAsync(docs, Data.Key(5));
        Say("put k000005 at its version", await driver.PutAsync(docs, Data.Key(5), Data.Value(7), known));
        Say("put k000005 at its old version", await driver.PutAsync(docs, Data.Key(5), Data.Value(8), known));
        var events = Data.Partition("c", 1);
        Say("append in a new partition at 0", await driver.AppendAsync(events, "s", Data.Value(9), 0));
        Say("append in a new partition at 1", await driver.AppendAsync(events, "s", Data.Value(9), 1));

        await driver.SeedIndexedAsync(Data.Partition("c", 2), Data.People(0, 5));
        await driver.SeedIndexedAsync(Data.Partition("c", 3), Data.People(1, 5));
        Say("find an e-mail of the first partition", await driver.FindByEmailAsync(Data.Email(0, 4)));
        Say("find an e-mail of the second partition", await driver.FindByEmailAsync(Data.Email(1, 0)));
        Say("find a missing e-mail", await driver.FindByEmailAsync(Data.Email(2, 0)));

        Say("bulk load of 3 × 10", await driver.BulkLoadAsync(Data.Stream("cb", 3, 10), writers: 2));
        Say("version of a bulk-loaded document", await driver.GetVersionAsync(Data.Partition("cb", 1), Data.Key(9)));
        Say("list a bulk-loaded partition", await driver.ListAsync(Data.Partition("cb", 2), "k0000", 100));
        Say("put a bulk-loaded document at 1", await driver.PutAsync(Data.Partition("cb", 0), Data.Key(0), Data.Value(9), 1));
        return answers;
    }
}
