using System.Collections.Concurrent;
using CudaI2V.Native.Driver;
using CudaI2V.Runtime.Compilation;

namespace CudaI2V.Runtime.Cuda;

/// <summary>A kernel entry point of a loaded module: the driver's CUfunction and the extern "C" name it was found by.</summary>
/// <param name="Handle">The CUfunction; valid while its module is loaded.</param>
/// <param name="Name">The entry point's name (<c>fill_f16</c>), used in error messages.</param>
public readonly record struct CudaFunction(nint Handle, string Name);

/// <summary>A compiled kernel image loaded into a context; unloaded by <see cref="Dispose"/>.</summary>
public sealed class CudaModule : IDisposable
{
    private readonly ModuleHandle _handle;
    private readonly CudaContext _context;
    private readonly ConcurrentDictionary<string, CudaFunction> _functions = new(StringComparer.Ordinal);

    private CudaModule(CudaContext context, ModuleHandle handle, CompiledKernel kernel)
    {
        _context = context;
        _handle = handle;
        Kernel = kernel;
    }

    /// <summary>The image this module was loaded from.</summary>
    public CompiledKernel Kernel { get; }

    /// <summary>Loads <paramref name="kernel"/> into <paramref name="context"/> (PTX is JIT-compiled by the driver here).</summary>
    public static CudaModule Load(CudaContext context, CompiledKernel kernel)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(kernel);
        context.MakeCurrent();
        return new CudaModule(context, new ModuleHandle(CudaDriver.LoadModule(kernel.Image)), kernel);
    }

    /// <summary>The entry point <paramref name="name"/> (looked up once, then remembered).</summary>
    public CudaFunction GetFunction(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        ObjectDisposedException.ThrowIf(_handle.IsClosed, this);
        return _functions.GetOrAdd(name, n =>
        {
            _context.MakeCurrent();
            return new CudaFunction(CudaDriver.GetFunction(_handle.Value, n), n);
        });
    }

    /// <summary>Unloads the module (no enqueued launch of it may still be pending). Never throws.</summary>
    public void Dispose()
    {
        if (!_handle.IsClosed)
        {
            _context.TryMakeCurrent(); // cuModuleUnload works on the current context
        }

        _handle.Dispose();
    }
}

/// <summary>
/// The modules of one context: each source (with its build options) is compiled for the device's exact architecture
/// at first use (see <see cref="KernelTarget.ForDevice"/>), through a <see cref="KernelCompiler"/> and its disk cache,
/// loaded once and kept until disposal. Thread-safe.
/// </summary>
public sealed class KernelModuleCache : IDisposable
{
    private readonly CudaContext _context;
    private readonly ConcurrentDictionary<string, Lazy<CudaModule>> _modules = new(StringComparer.Ordinal);
    private readonly Lazy<KernelTarget> _target;

    /// <summary>A cache for <paramref name="context"/> compiling through <paramref name="compiler"/>.</summary>
    public KernelModuleCache(CudaContext context, KernelCompiler compiler)
    {
        ArgumentNullException.ThrowIfNull(context);
        ArgumentNullException.ThrowIfNull(compiler);
        _context = context;
        Compiler = compiler;
        _target = new Lazy<KernelTarget>(() => KernelTarget.ForDevice(context.Device.Architecture, compiler.SupportedArchitectures));
    }

    /// <summary>The compiler used.</summary>
    public KernelCompiler Compiler { get; }

    /// <summary>The context.</summary>
    public CudaContext Context => _context;

    /// <summary>What kernels are compiled for on this device.</summary>
    public KernelTarget Target => _target.Value;

    /// <summary>The module of <paramref name="source"/> built with <paramref name="build"/>, compiled and loaded on first use.</summary>
    public CudaModule Get(KernelSource source, KernelBuildOptions? build = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        var kernel = Compiler.Compile(source, Target, build);
        var entry = _modules.GetOrAdd(kernel.Key, _ => new Lazy<CudaModule>(() => CudaModule.Load(_context, kernel)));
        try
        {
            return entry.Value;
        }
        catch
        {
            _modules.TryRemove(new KeyValuePair<string, Lazy<CudaModule>>(kernel.Key, entry));
            throw;
        }
    }

    /// <summary>Unloads every module. Never throws.</summary>
    public void Dispose()
    {
        foreach (var entry in _modules.Values)
        {
            if (entry.IsValueCreated)
            {
                entry.Value.Dispose();
            }
        }

        _modules.Clear();
    }
}
