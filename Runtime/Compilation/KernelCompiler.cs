using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using CudaI2V.Native.Nvrtc;
using CudaI2V.Runtime.Caching;

namespace CudaI2V.Runtime.Compilation;

/// <summary>Where a compiled kernel came from.</summary>
public enum KernelOrigin
{
    /// <summary>NVRTC compiled it just now.</summary>
    Compiled,

    /// <summary>This compiler had it in memory.</summary>
    Memory,

    /// <summary>Read from the cache folder (an earlier run compiled it).</summary>
    Disk,
}

/// <summary>A compiled kernel image, ready for <c>cuModuleLoadData</c>.</summary>
/// <param name="Name">The source's file name.</param>
/// <param name="Target">What it was compiled for.</param>
/// <param name="Image">CUBIN bytes, or PTX text with its terminating NUL.</param>
/// <param name="Log">NVRTC's warnings (empty when clean or read from disk).</param>
/// <param name="Key">The cache key (hex SHA-256).</param>
/// <param name="Origin">Compiled now, from memory, or from disk.</param>
public sealed record CompiledKernel(string Name, KernelTarget Target, byte[] Image, string Log, string Key, KernelOrigin Origin);

/// <summary>
/// Compiles kernel sources with NVRTC, once: results are kept in memory and, with a <see cref="CacheRoot"/>, in its
/// <c>kernels</c> area, keyed by a hash of the source and its headers, the options (defines included), NVRTC's
/// version and the target. A second process with the same cache root therefore compiles nothing
/// (<see cref="Compilations"/> counts NVRTC runs so a test can prove it). Thread-safe.
/// </summary>
public sealed class KernelCompiler
{
    /// <summary>The cache area compiled kernels are stored in.</summary>
    public const string CacheArea = "kernels";

    /// <summary>Options every compilation gets before the defines: C++17, and line info so sanitizers and profilers can name source lines.</summary>
    public static IReadOnlyList<string> BaseOptions { get; } = ["--std=c++17", "--generate-line-info"];

    private const string KeyFormat = "cudai2v-kernel-cache-v1";

    private readonly CacheRoot? _cache;
    private readonly ConcurrentDictionary<string, Lazy<CompiledKernel>> _memory = new(StringComparer.Ordinal);
    private readonly Lazy<Version> _nvrtcVersion = new(NvrtcCompiler.Version);
    private readonly Lazy<IReadOnlyList<int>> _architectures = new(NvrtcCompiler.SupportedArchitectures);
    private int _compilations;
    private int _diskHits;

    /// <summary>A compiler keeping results in memory and, when <paramref name="cache"/> is given, on disk under it.</summary>
    public KernelCompiler(CacheRoot? cache) => _cache = cache;

    /// <summary>How many times this compiler ran NVRTC.</summary>
    public int Compilations => Volatile.Read(ref _compilations);

    /// <summary>How many kernels this compiler read from the cache folder.</summary>
    public int DiskHits => Volatile.Read(ref _diskHits);

    /// <summary>The NVRTC version (loads NVRTC).</summary>
    public Version NvrtcVersion => _nvrtcVersion.Value;

    /// <summary>The architectures this NVRTC can target, ascending.</summary>
    public IReadOnlyList<int> SupportedArchitectures => _architectures.Value;

    /// <summary>The full NVRTC option list for a target and build options.</summary>
    public static IReadOnlyList<string> OptionsFor(KernelTarget target, KernelBuildOptions build)
    {
        ArgumentNullException.ThrowIfNull(build);
        return [$"--gpu-architecture={target.Name}", .. BaseOptions, .. build.DefineOptions(), .. build.ExtraOptions];
    }

    /// <summary>
    /// The cache key: hex SHA-256 over the key format, NVRTC's version, the target, every option (defines included) in
    /// order, and the source and each header with their names and lengths (so no two inputs can run together).
    /// </summary>
    public static string CacheKey(KernelSource source, KernelTarget target, IReadOnlyList<string> options, Version nvrtcVersion)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(nvrtcVersion);
        var text = new StringBuilder();
        text.Append(KeyFormat).Append('\n');
        text.Append("nvrtc ").Append(nvrtcVersion).Append('\n');
        text.Append("target ").Append(target.Name).Append('\n');
        foreach (var option in options)
        {
            text.Append("option ").Append(option.Length).Append(' ').Append(option).Append('\n');
        }

        void Part(string kind, string name, string code) =>
            text.Append(kind).Append(' ').Append(name.Length).Append(' ').Append(name).Append(' ').Append(code.Length).Append('\n').Append(code).Append('\n');

        Part("source", source.Name, source.Code);
        foreach (var header in source.Headers.OrderBy(h => h.Name, StringComparer.Ordinal))
        {
            Part("header", header.Name, header.Code);
        }

        return Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(text.ToString())));
    }

    /// <summary>The kernel compiled for <paramref name="target"/>: from memory, from disk, or by NVRTC (throws NvrtcCompileException with the log).</summary>
    public CompiledKernel Compile(KernelSource source, KernelTarget target, KernelBuildOptions? build = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        var options = OptionsFor(target, build ?? KernelBuildOptions.None);
        var key = CacheKey(source, target, options, NvrtcVersion);
        var created = false;
        var entry = _memory.GetOrAdd(key, k =>
        {
            created = true;
            return new Lazy<CompiledKernel>(() => Load(source, target, options, k));
        });
        try
        {
            var kernel = entry.Value;
            return created ? kernel : kernel with { Origin = KernelOrigin.Memory };
        }
        catch
        {
            // Do not remember a failure: a fixed source (or a retry) compiles again.
            _memory.TryRemove(new KeyValuePair<string, Lazy<CompiledKernel>>(key, entry));
            throw;
        }
    }

    /// <summary>The file an entry is (or would be) stored in, or null without a cache root.</summary>
    public string? EntryPath(KernelSource source, KernelTarget target, string key)
    {
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(key);
        var stem = Path.GetFileNameWithoutExtension(source.Name);
        return _cache?.EntryPath(CacheArea, $"{stem}-{target.Name}-{key[..32]}.{(target.Cubin ? "cubin" : "ptx")}");
    }

    private CompiledKernel Load(KernelSource source, KernelTarget target, IReadOnlyList<string> options, string key)
    {
        var path = EntryPath(source, target, key);
        if (path is not null && TryRead(path, target) is { } image)
        {
            Interlocked.Increment(ref _diskHits);
            return new CompiledKernel(source.Name, target, image, "", key, KernelOrigin.Disk);
        }

        var headers = source.Headers.Select(h => new NvrtcHeader(h.Name, h.Code)).ToList();
        var output = NvrtcCompiler.Compile(source.Name, source.Code, headers, options, target.Cubin);
        Interlocked.Increment(ref _compilations);
        if (path is not null)
        {
            CacheRoot.WriteFile(path, stream => stream.Write(output.Image));
        }

        return new CompiledKernel(source.Name, target, output.Image, output.Log, key, KernelOrigin.Compiled);
    }

    /// <summary>The stored image if it looks whole (an ELF header for a CUBIN, NUL-terminated text for PTX).</summary>
    private static byte[]? TryRead(string path, KernelTarget target)
    {
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }

        var valid = target.Cubin
            ? bytes.Length > 4 && bytes[0] == 0x7F && bytes[1] == (byte)'E' && bytes[2] == (byte)'L' && bytes[3] == (byte)'F'
            : bytes.Length > 1 && bytes[^1] == 0;
        return valid ? bytes : null;
    }
}
