using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Xunit.Abstractions;

namespace YearInPixels.Tests;

/// <summary>Tests that run alone: the load test (nothing else shares the machine's two cores while it measures) and the upgrade drill.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class LoadCollection
{
    /// <summary>The collection's name.</summary>
    public const string Name = "Load";
}

/// <summary>
/// Concurrent clients saving moods over real HTTP (Kestrel on loopback), each as its own user: no
/// request may fail and every last value and earlier value must be in the store afterwards. By default
/// a short run (4 clients, 1 s) that checks exactly that; with <c>YEARINPIXELS_LOAD=1</c> the bounded
/// load test of the sample's README (16 clients for 20 s, or <c>YEARINPIXELS_LOAD_CLIENTS</c> and
/// <c>YEARINPIXELS_LOAD_SECONDS</c>), which reports requests per second and latency percentiles. The
/// figures are printed, never asserted: performance is measured, not tested.
/// </summary>
[Collection(LoadCollection.Name)]
public sealed class LoadTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData(Backend.Json)]
    [InlineData(Backend.Sqlite)]
    [InlineData(Backend.Postgres)]
    public async Task Concurrent_clients_saving_moods_get_no_errors_and_lose_nothing(Backend backend)
    {
        var full = Environment.GetEnvironmentVariable("YEARINPIXELS_LOAD") == "1";
        var clients = full ? Setting("YEARINPIXELS_LOAD_CLIENTS", 16) : 4;
        var duration = TimeSpan.FromSeconds(full ? Setting("YEARINPIXELS_LOAD_SECONDS", 20) : 1);

        await using var app = await PixelsFactory.CreateAsync(backend);
        var baseAddress = app.StartKestrel();
        using var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = clients * 2 }) { BaseAddress = baseAddress };
        var tokens = new string[clients];
        for (var i = 0; i < clients; i++)
        {
            using var signIn = await http.PostAsJsonAsync("/api/dev/sign-in", new DevSignInInput($"load-{i}"));
            tokens[i] = (await signIn.Content.ReadFromJsonAsync<SignedIn>())!.Token;
        }

        var days = Enumerable.Range(0, 365).Select(d => new DateOnly(2026, 1, 1).AddDays(d).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)).ToArray();
        var deadline = Stopwatch.StartNew();
        var runs = await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
        {
            var run = new ClientRun();
            var random = new Random(c);
            while (deadline.Elapsed < duration)
            {
                // Mostly new days, sometimes one already set (an overwrite, so the history grows too).
                var date = random.Next(4) == 0 && run.Last.Count > 0 ? run.Last.Keys.ElementAt(random.Next(run.Last.Count)) : days[run.Requests % days.Length];
                var level = random.Next(1, 6);
                var note = $"c{c} r{run.Requests}";
                using var request = new HttpRequestMessage(HttpMethod.Put, $"/api/days/{date}") { Content = JsonContent.Create(new MoodInput(level, note)) };
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", tokens[c]);
                var started = Stopwatch.GetTimestamp();
                using var response = await http.SendAsync(request);
                run.Latencies.Add(Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                run.Requests++;
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    run.Failures.Add($"{(int)response.StatusCode} for PUT {date}: {await response.Content.ReadAsStringAsync()}");
                    continue;
                }

                run.Writes[date] = run.Writes.GetValueOrDefault(date) + 1;
                run.Last[date] = note;
            }

            return run;
        })));
        var elapsed = deadline.Elapsed;

        var requests = runs.Sum(r => r.Requests);
        var latencies = runs.SelectMany(r => r.Latencies).Order().ToArray();
        var line = string.Create(CultureInfo.InvariantCulture,
            $"{backend}: {clients} clients, {elapsed.TotalSeconds:0.0} s, {requests} saves, {requests / elapsed.TotalSeconds:0} requests/s, " +
            $"p50 {Percentile(latencies, 0.50):0.0} ms, p99 {Percentile(latencies, 0.99):0.0} ms, max {latencies[^1]:0.0} ms");
        output.WriteLine(line);
        if (full)
        {
            Directory.CreateDirectory(BrowserFixture.ArtifactsDirectory);
            await File.AppendAllTextAsync(Path.Combine(BrowserFixture.ArtifactsDirectory, "load.txt"), line + Environment.NewLine);
        }

        Assert.Empty(runs.SelectMany(r => r.Failures).Take(5));
        Assert.True(requests >= clients, "every client saved at least once");

        // Nothing lost: each user's year holds the last value of each day saved; a sample of days
        // holds every earlier value in its history.
        for (var c = 0; c < clients; c++)
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/api/year?year=2026");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", tokens[c]);
            using var response = await http.SendAsync(request);
            var year = (await response.Content.ReadFromJsonAsync<YearView>())!;
            Assert.Equal(runs[c].Last.OrderBy(d => d.Key, StringComparer.Ordinal).Select(d => (d.Key, d.Value)), year.Days.Select(d => (d.Key, d.Value.Note)));
            foreach (var (date, writes) in runs[c].Writes.OrderByDescending(w => w.Value).Take(5))
            {
                using var historyRequest = new HttpRequestMessage(HttpMethod.Get, $"/api/days/{date}/history");
                historyRequest.Headers.Authorization = new AuthenticationHeaderValue("Bearer", tokens[c]);
                using var historyResponse = await http.SendAsync(historyRequest);
                Assert.Equal(writes - 1, (await historyResponse.Content.ReadFromJsonAsync<List<HistoryEntry>>())!.Count);
            }
        }
    }

    private static int Setting(string name, int fallback)
        => int.TryParse(Environment.GetEnvironmentVariable(name), NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value > 0 ? value : fallback;

    private static double Percentile(double[] sorted, double p) => sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(p * sorted.Length) - 1)];

    private sealed class ClientRun
    {
        public int Requests { get; set; }

        public List<double> Latencies { get; } = [];

        public List<string> Failures { get; } = [];

        public Dictionary<string, int> Writes { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, string> Last { get; } = new(StringComparer.Ordinal);
    }
}
