using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using Storage.Testing;
using Storage.Testing.Postgres;
using Xunit.Abstractions;

namespace YearInPixels.Tests;

/// <summary>
/// The upgrade drill of the sample's README, as a user runs it: the built app as a process on JSON files,
/// clients saving moods all along; the built <c>storage</c> tool copies the store and follows it
/// (<c>migrate --execute --follow</c>, stopped with SIGTERM), then <c>cutover</c> fences it — the app answers
/// 503 with Retry-After and the clients retry — and the app restarts on SQLite, where the clients go on
/// with the same sessions; then the same from SQLite to PostgreSQL (unless <c>YEARINPIXELS_DRILL_POSTGRES=0</c>).
/// At the end every acknowledged save is there with its last value, the history of every day holds every
/// earlier acknowledged value in order, the counts per level match, and signing in again with the same
/// name gives the same user.
/// </summary>
[Collection(LoadCollection.Name)] // alone: the app and the tool as processes, on a fixed port across restarts
[Trait("Backend", "Drill")]
public sealed class UpgradeDrillTests(ITestOutputHelper output) : IAsyncLifetime
{
    private const int Users = 6;
    private const int DaysPerUser = 60;
    private const int Year = 2026;
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(60);

    private readonly string _directory = Directory.CreateTempSubdirectory("pixels-drill-").FullName;
    private readonly List<string> _schemas = [];
    private readonly int _port = FreePort();

    private string BaseAddress => $"http://127.0.0.1:{_port}";

    [Fact]
    public async Task The_app_moves_from_JSON_to_SQLite_to_PostgreSQL_while_clients_save_and_loses_no_acknowledged_save()
    {
        var json = "json:" + Path.Combine(_directory, "data");
        var sqlite = "sqlite:" + Path.Combine(_directory, "app.db");
        List<string> addresses = [json, sqlite];
        if (Environment.GetEnvironmentVariable("YEARINPIXELS_DRILL_POSTGRES") != "0")
        {
            var server = await PostgresTestServer.GetAsync();
            var schema = PostgresTestServer.NewSchemaName("drill");
            _schemas.Add(schema);
            addresses.Add($"postgres:{server.ConnectionString};Schema={schema}");
        }

        var app = await StartAppAsync(json);
        var clients = new DrillClients(BaseAddress, Users, DaysPerUser, Year);
        try
        {
            await clients.StartAsync();
            await clients.WaitForAcknowledgedAsync(50, s_timeout);

            for (var leg = 1; leg < addresses.Count; leg++)
            {
                var (from, to) = (addresses[leg - 1], addresses[leg]);
                var legName = $"{Scheme(from)} -> {Scheme(to)}";

                // 1. Copy, then follow the source while the app serves; SIGTERM stops following (exit 0).
                using (var follow = Tool("migrate", "--from", from, "--to", to, "--execute", "--follow"))
                {
                    Assert.True(await follow.WaitForLineAsync(s_timeout, "Following") is not null, Describe(follow));
                    var deadline = DateTime.UtcNow + s_timeout;
                    while (follow.Lines.Count(l => l.StartsWith("Pass ", StringComparison.Ordinal)) < 3)
                    {
                        Assert.False(follow.HasExited, Describe(follow));
                        Assert.True(DateTime.UtcNow < deadline, $"{legName}: the follower reported fewer than 3 passes with changes. {Describe(follow)}");
                        await Task.Delay(50);
                    }

                    await TerminateAsync(follow);
                    Assert.True(follow.ExitCode == 0, Describe(follow));
                    Assert.Contains(follow.Lines, l => l.StartsWith("Stopped following", StringComparison.Ordinal));
                }

                // 2. Cut over: fence, drain, verify. The source stays read-only: the app's saves get 503 from now on.
                var refusedBefore = clients.Refused;
                using (var cutover = Tool("cutover", "--from", from, "--to", to))
                {
                    Assert.True(await cutover.WaitForExitAsync(s_timeout), Describe(cutover));
                    Assert.True(cutover.ExitCode == 0, Describe(cutover));
                    var done = cutover.Lines.SingleOrDefault(l => l.StartsWith("Cut over: ", StringComparison.Ordinal));
                    Assert.True(done is not null, Describe(cutover));
                    Assert.Contains("writes were refused for", done, StringComparison.Ordinal);
                    clients.Log($"{legName}: {done}");
                    output.WriteLine($"{legName}: {done}");
                }

                await clients.WaitAsync(() => clients.Refused > refusedBefore, s_timeout, $"{legName}: no save was refused (503) after the cut-over");
                var acknowledgedBeforeRestart = clients.Acknowledged;

                // 3. Restart the app on the destination; the clients' retried saves land there, with the same sessions.
                await StopAppAsync(app);
                app = await StartAppAsync(to);
                await clients.WaitForAcknowledgedAsync(acknowledgedBeforeRestart + 50, s_timeout);
                var paused = clients.PauseBefore(acknowledgedBeforeRestart);
                var line = string.Create(CultureInfo.InvariantCulture, $"{legName}: no save acknowledged for {paused.TotalSeconds:0.0} s (the fence until the app answered on {Scheme(to)}).");
                clients.Log(line);
                output.WriteLine(line);
            }

            await clients.StopAsync();
            output.WriteLine(clients.Summary);
            Assert.True(clients.Failures.IsEmpty, $"{clients.Failures.Count} requests failed: {string.Join(" | ", clients.Failures.Take(5))}");

            // 4. Every acknowledged save, read back through the app on the last store.
            await clients.VerifyAsync();
            Directory.CreateDirectory(BrowserFixture.ArtifactsDirectory);
            await File.AppendAllTextAsync(Path.Combine(BrowserFixture.ArtifactsDirectory, "drill.txt"), string.Join(Environment.NewLine, [.. clients.Messages, clients.Summary]) + Environment.NewLine);
        }
        finally
        {
            await clients.DisposeAsync();
            await StopAppAsync(app);
        }
    }

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_schemas.Count > 0)
        {
            var server = await PostgresTestServer.GetAsync();
            foreach (var schema in _schemas)
            {
                await server.DropSchemaAsync(schema);
            }
        }

        Directory.Delete(_directory, recursive: true);
    }

    /// <summary>Starts the built app (<c>dotnet YearInPixels.dll</c>) on <paramref name="address"/> and waits for its "Year in pixels:" line.</summary>
    private async Task<ChildProcess> StartAppAsync(string address)
    {
        var dll = ChildProcess.ProgramPath(typeof(UpgradeDrillTests).Assembly, "AppPath");
        var app = ChildProcess.Start(
            [dll, "--contentRoot", Path.GetDirectoryName(dll)!, "--urls", BaseAddress],
            new Dictionary<string, string>
            {
                ["ASPNETCORE_ENVIRONMENT"] = "Development",
                ["Storage__Address"] = address,
                ["Logging__LogLevel__Default"] = "Warning",
            });
        var started = await app.WaitForLineAsync(s_timeout, "Year in pixels: ");
        Assert.True(started is not null, Describe(app));
        output.WriteLine(started);
        return app;
    }

    private static async Task StopAppAsync(ChildProcess app)
    {
        if (app.HasExited)
        {
            return;
        }

        await TerminateAsync(app);
        Assert.True(app.ExitCode == 0, Describe(app));
        app.Dispose();
    }

    /// <summary>SIGTERM, as a service manager stops a process (never SIGINT: a test run in the background inherits it ignored).</summary>
    private static async Task TerminateAsync(ChildProcess process)
    {
        using (var signal = Process.Start("kill", ["-s", "TERM", process.Id.ToString(CultureInfo.InvariantCulture)]))
        {
            await signal.WaitForExitAsync();
        }

        Assert.True(await process.WaitForExitAsync(s_timeout), Describe(process));
    }

    private static ChildProcess Tool(params string[] arguments) =>
        ChildProcess.Start([ChildProcess.ProgramPath(typeof(UpgradeDrillTests).Assembly, "ToolPath"), .. arguments]);

    private static string Describe(ChildProcess process) =>
        $"{(process.HasExited ? "exit " + process.ExitCode : "running")}: {string.Join('\n', process.Lines.TakeLast(30))}\n{process.StandardError}";

    private static string Scheme(string address) => address[..address.IndexOf(':', StringComparison.Ordinal)];

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}

/// <summary>
/// Users saving moods continuously, one save at a time each, as the page does: a save refused with 503 is
/// sent again after its Retry-After, one without an answer (the app restarting) after a moment; only a 2xx
/// counts as acknowledged. Each save has a note of its own, so the values read back name the saves.
/// </summary>
internal sealed class DrillClients(string baseAddress, int users, int daysPerUser, int year) : IAsyncDisposable
{
    private readonly HttpClient _http = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.FromSeconds(2) })
    {
        BaseAddress = new Uri(baseAddress),
        Timeout = TimeSpan.FromSeconds(20),
    };

    private readonly CancellationTokenSource _stop = new();
    private readonly User[] _users = [.. Enumerable.Range(0, users).Select(i => new User($"drill-{i}"))];
    private Task[] _loops = [];
    private readonly List<long> _acknowledgedAt = [];
    private long _acknowledged;
    private long _refused;
    private long _unanswered;

    /// <summary>Saves acknowledged (2xx) so far.</summary>
    public long Acknowledged
    {
        get
        {
            lock (_acknowledgedAt)
            {
                return _acknowledged;
            }
        }
    }

    /// <summary>Saves refused with 503 so far (each retried).</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>Anything but 2xx, 503 or no answer: a defect.</summary>
    public ConcurrentQueue<string> Failures { get; } = new();

    /// <summary>What the drill reported, in order.</summary>
    public ConcurrentQueue<string> Messages { get; } = new();

    /// <summary>One line: saves acknowledged, refused, unanswered.</summary>
    public string Summary => $"{_users.Length} users: {Acknowledged} saves acknowledged, {Refused} refused with 503 and retried, {Interlocked.Read(ref _unanswered)} without an answer (app restarting) and retried.";

    public void Log(string message) => Messages.Enqueue(message);

    /// <summary>Signs every user in and starts their saves.</summary>
    public async Task StartAsync()
    {
        foreach (var user in _users)
        {
            var signedIn = await SignInAsync(user.Name);
            user.Token = signedIn.Token;
            user.UserId = signedIn.UserId;
        }

        _loops = [.. _users.Select((user, i) => Task.Run(() => SaveLoopAsync(user, new Random(1905 + i))))];
    }

    public Task WaitForAcknowledgedAsync(long count, TimeSpan timeout) =>
        WaitAsync(() => Acknowledged >= count, timeout, $"fewer than {count} saves were acknowledged");

    public async Task WaitAsync(Func<bool> condition, TimeSpan timeout, string message)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            Assert.True(Failures.IsEmpty, string.Join(" | ", Failures.Take(5)));
            Assert.True(_loops.All(l => !l.IsCompleted), "a client stopped: " + string.Join(" | ", _loops.Where(l => l.IsFaulted).Select(l => l.Exception!.InnerException!.Message)));
            Assert.True(DateTime.UtcNow < deadline, $"{message} within {timeout.TotalSeconds} s. {Summary}");
            await Task.Delay(50);
        }
    }

    /// <summary>The time between the acknowledgement number <paramref name="count"/> (0-based) and the one before it.</summary>
    public TimeSpan PauseBefore(long count)
    {
        lock (_acknowledgedAt)
        {
            return Stopwatch.GetElapsedTime(_acknowledgedAt[(int)count - 1], _acknowledgedAt[(int)count]);
        }
    }

    /// <summary>Stops the saves after the one each user is retrying is acknowledged.</summary>
    public async Task StopAsync()
    {
        await _stop.CancelAsync();
        await Task.WhenAll(_loops);
    }

    /// <summary>
    /// Reads everything back through the app: the year of each user holds exactly the last acknowledged
    /// value of each day saved, the counts per level are those values', the history of each day (oldest
    /// first, then the current value) is the sequence of acknowledged saves of that day, the sessions
    /// opened on JSON still work, and signing in again with the same name gives the same user.
    /// </summary>
    public async Task VerifyAsync()
    {
        foreach (var user in _users)
        {
            var view = await GetAsync<YearView>(user, $"/api/year?year={year}");
            var expected = user.Saves.ToDictionary(s => s.Key, s => s.Value[^1], StringComparer.Ordinal);
            Assert.Equal(expected.OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => $"{e.Key}={e.Value}"), view.Days.Select(d => $"{d.Key}={new Saved(d.Value.Level, d.Value.Note)}"));
            var counts = Enumerable.Range(1, 5).ToDictionary(l => l.ToString(CultureInfo.InvariantCulture), l => expected.Values.Count(s => s.Level == l));
            Assert.Equal(counts.OrderBy(c => c.Key), view.Counts.OrderBy(c => c.Key));
            var yearCounts = await GetAsync<YearCounts>(user, $"/api/year/counts?year={year}");
            Assert.Equal(counts.OrderBy(c => c.Key), yearCounts.Counts.OrderBy(c => c.Key));
            Assert.Equal(expected.Count, yearCounts.Total);

            foreach (var (date, saves) in user.Saves)
            {
                var history = await GetAsync<List<HistoryEntry>>(user, $"/api/days/{date}/history");
                Assert.True(history.Count < 100, $"{user.Name} {date}: {history.Count} history entries; the API returns at most 100, so the drill must save a day fewer times.");
                List<Saved> stored = [.. history.AsEnumerable().Reverse().Select(h => new Saved(h.Level, h.Note)), new Saved(view.Days[date].Level, view.Days[date].Note)];

                // A save sent again after no answer may have landed twice (its value twice in a row); one refused (503) never did.
                var ambiguous = user.Unanswered.GetValueOrDefault(date);
                var collapsed = stored.Where((s, i) => i == 0 || s != stored[i - 1]).ToList();
                Assert.True(stored.Count - collapsed.Count <= ambiguous, $"{user.Name} {date}: a value is in the history twice though its save was answered: {string.Join(", ", stored)}");
                Assert.Equal(saves, collapsed);
            }

            // The session opened on the JSON store still authenticates; the same name is the same user.
            var me = await GetAsync<Me>(user, "/api/me");
            Assert.Equal(user.UserId, me.UserId);
            Assert.Equal(user.UserId, (await SignInAsync(user.Name)).UserId);
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_stop.IsCancellationRequested)
        {
            await _stop.CancelAsync();
        }

        try
        {
            await Task.WhenAll(_loops).WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (Exception)
        {
            // The test has failed already; the loops' errors are not its cause.
        }

        _http.Dispose();
        _stop.Dispose();
    }

    private async Task SaveLoopAsync(User user, Random random)
    {
        var days = Enumerable.Range(0, daysPerUser).Select(d => new DateOnly(year, 1, 1).AddDays(d * 5).ToString("yyyy-MM-dd", CultureInfo.InvariantCulture)).ToArray();
        for (var n = 0; !_stop.IsCancellationRequested; n++)
        {
            var date = days[random.Next(days.Length)];
            var save = new Saved(random.Next(1, 6), $"{user.Name} #{n}");
            await SaveAsync(user, date, save);
            user.Saves.TryAdd(date, []);
            user.Saves[date].Add(save);
            lock (_acknowledgedAt)
            {
                _acknowledgedAt.Add(Stopwatch.GetTimestamp());
                _acknowledged++;
            }

            await Task.Delay(20); // a steady stream, not a load test
        }
    }

    /// <summary>PUTs one save until it is acknowledged (the test's timeout bounds it).</summary>
    private async Task SaveAsync(User user, string date, Saved save)
    {
        while (true)
        {
            using var request = new HttpRequestMessage(HttpMethod.Put, $"/api/days/{date}") { Content = JsonContent.Create(new MoodInput(save.Level, save.Note)) };
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", user.Token);
            try
            {
                using var response = await _http.SendAsync(request);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }

                if (response.StatusCode == HttpStatusCode.ServiceUnavailable)
                {
                    Interlocked.Increment(ref _refused);
                    if (response.Headers.RetryAfter?.Delta is not { } retryAfter)
                    {
                        Failures.Enqueue($"503 without Retry-After for {user.Name} PUT {date}");
                        retryAfter = TimeSpan.FromSeconds(1);
                    }

                    await Task.Delay(retryAfter);
                    continue;
                }

                Failures.Enqueue($"{(int)response.StatusCode} for {user.Name} PUT {date}: {await response.Content.ReadAsStringAsync()}");
                await Task.Delay(100);
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // No answer: the app is stopping or starting. The save may or may not have landed.
                Interlocked.Increment(ref _unanswered);
                user.Unanswered[date] = user.Unanswered.GetValueOrDefault(date) + 1;
                await Task.Delay(100);
            }
        }
    }

    private async Task<SignedIn> SignInAsync(string name)
    {
        using var response = await _http.PostAsJsonAsync("/api/dev/sign-in", new DevSignInInput(name));
        Assert.True(response.IsSuccessStatusCode, $"sign-in of {name}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return (await response.Content.ReadFromJsonAsync<SignedIn>())!;
    }

    private async Task<T> GetAsync<T>(User user, string path)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", user.Token);
        using var response = await _http.SendAsync(request);
        Assert.True(response.IsSuccessStatusCode, $"{user.Name} GET {path}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        return (await response.Content.ReadFromJsonAsync<T>())!;
    }

    private sealed record Saved(int Level, string Note)
    {
        public override string ToString() => $"{Level} '{Note}'";
    }

    private sealed class User(string name)
    {
        public string Name { get; } = name;

        public string Token { get; set; } = "";

        public string UserId { get; set; } = "";

        /// <summary>Each day's acknowledged saves, in order (only its own loop writes them).</summary>
        public Dictionary<string, List<Saved>> Saves { get; } = new(StringComparer.Ordinal);

        /// <summary>Per day, how many of its saves went unanswered at least once.</summary>
        public Dictionary<string, int> Unanswered { get; } = new(StringComparer.Ordinal);
    }
}
