using System.Globalization;

namespace Storage.CrashWriter;

/// <summary>
/// The cutover-app mode: an app that writes while its store is cut over to another. Puts of new keys and
/// appends of new events over five partitions, a millisecond apart, each acknowledged on a line once its
/// call returned; refused by the read-only fence ("503, retry later"), it says REFUSED and waits for a line
/// on stdin — the cut-over is done — then opens the destination and retries the same write there. So every
/// acknowledged write must be in the destination, once.
/// </summary>
internal sealed class CutoverApp(IStore source, int seed, Action<string> print, Func<Task<IStore>> openDestination)
{
    public const string Refused = "REFUSED";
    public const string Done = "DONE";

    public async Task RunAsync(int operations)
    {
        var random = new Random(seed);
        var store = source;
        IStore? destination = null;
        try
        {
            for (var i = 0; i < operations; i++)
            {
                var partition = "p" + random.Next(5);
                var key = "k" + i.ToString(CultureInfo.InvariantCulture);
                var append = random.Next(4) == 0;
                var id = Guid.NewGuid();
                await Task.Delay(1);
                while (true)
                {
                    try
                    {
                        if (append)
                        {
                            await store.AppendAsync(partition, "log", [EventData.Create("happened", "\"" + key + "\"", id: id)]);
                        }
                        else
                        {
                            await store.PutAsync(partition, "docs", key, "\"" + key + "\"");
                        }

                        break;
                    }
                    catch (StoreReadOnlyException) when (destination is null)
                    {
                        print(Refused);
                        _ = Console.In.ReadLine();
                        store = destination = await openDestination();
                    }
                }

                print(append ? $"ACK APPEND {partition} {id}" : $"ACK PUT {partition} {key}");
            }

            print(Done);
        }
        finally
        {
            if (destination is not null)
            {
                await destination.DisposeAsync();
            }
        }
    }
}
