using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Scale;

/// <summary>
/// A real <c>redis-server</c> (Debian's package) on a free loopback port, in a folder of its own and without
/// persistence (<c>--save '' --appendonly no</c>), so a restart loses everything. Killed when disposed.
/// </summary>
public sealed class RedisProcess : IDisposable
{
    private readonly string _folder = Fixtures.TempFolder("redis");
    private Process? _process;

    private RedisProcess(int port) => Port = port;

    public int Port { get; }

    /// <summary>
    /// The test collection of every class that starts Redis: they run one at a time. In parallel, a port freed by a
    /// test that restarts its Redis could be chosen by another test's <see cref="FreePort"/>; the restarted server then
    /// fails to bind while the other one answers its PING, and two clusters share one Redis (seen in CI as jobs
    /// delivered twice and queue places never freed).
    /// </summary>
    public const string Collection = "Redis servers";

    public string Endpoint => $"127.0.0.1:{Port}";

    /// <summary>Why the tests that need Redis cannot run here, or null when <c>redis-server</c> is on the PATH.</summary>
    public static string? Missing { get; } = Which("redis-server") is null
        ? "redis-server is not installed (Debian: apt-get install redis-server; .ci/run installs it)."
        : null;

    /// <summary>A free loopback port (chosen by the system, then released).</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    /// <summary>Starts redis-server on a free port (or prepares it without starting when <paramref name="start"/> is false).</summary>
    public static RedisProcess Start(bool start = true)
    {
        var redis = new RedisProcess(FreePort());
        if (start)
        {
            redis.Run();
        }

        return redis;
    }

    /// <summary>Starts the server on its port and waits until it answers PING (at most 15 s).</summary>
    public void Run()
    {
        var info = new ProcessStartInfo(Which("redis-server")!) { RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = _folder };
        foreach (var arg in new[] { "--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", _folder, "--daemonize", "no" })
        {
            info.ArgumentList.Add(arg);
        }

        _process = Process.Start(info)!;
        _process.OutputDataReceived += (_, _) => { };
        _process.ErrorDataReceived += (_, _) => { };
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (!Answers())
        {
            Assert.True(DateTime.UtcNow < deadline && !_process.HasExited, $"redis-server on port {Port} did not answer within 15 s");
            Thread.Sleep(50);
        }
    }

    /// <summary>Kills the server (its data is lost: no persistence).</summary>
    public void Kill()
    {
        if (_process is { HasExited: false } process)
        {
            process.Kill();
            process.WaitForExit(10_000);
        }

        _process?.Dispose();
        _process = null;
    }

    /// <summary>Kills the server and starts a new, empty one on the same port.</summary>
    public void Restart()
    {
        Kill();
        Run();
    }

    public void Dispose() => Kill();

    private bool Answers()
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(IPAddress.Loopback, Port);
            var stream = client.GetStream();
            stream.Write("PING\r\n"u8);
            var buffer = new byte[16];
            var read = stream.Read(buffer);
            return Encoding.ASCII.GetString(buffer, 0, read).StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (SocketException)
        {
            return false;
        }
        catch (IOException)
        {
            return false;
        }
    }

    private static string? Which(string name) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(dir => Path.Combine(dir, name)).FirstOrDefault(File.Exists);
}
