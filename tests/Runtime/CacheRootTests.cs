using CudaI2V.Runtime.Caching;
using CudaI2V.Tests.Support;

namespace CudaI2V.Tests.Runtime;

/// <summary>Where the cache lives, and that entries appear whole or not at all.</summary>
public sealed class CacheRootTests
{
    [Fact]
    public void The_environment_variable_wins_then_the_user_cache_folder()
    {
        var env = new Dictionary<string, string?> { ["CUDAI2V_CACHE_DIR"] = "/data/cudai2v", ["XDG_CACHE_HOME"] = "/xdg", ["HOME"] = "/home/u" };
        Assert.Equal("/data/cudai2v", CacheRoot.DefaultPath(v => env.GetValueOrDefault(v)));
        if (!OperatingSystem.IsWindows())
        {
            env.Remove("CUDAI2V_CACHE_DIR");
            Assert.Equal("/xdg/cudai2v", CacheRoot.DefaultPath(v => env.GetValueOrDefault(v)));
            env.Remove("XDG_CACHE_HOME");
            Assert.Equal("/home/u/.cache/cudai2v", CacheRoot.DefaultPath(v => env.GetValueOrDefault(v)));
        }

        var explicitRoot = Fixtures.TempFolder("cache-explicit");
        Assert.Equal(explicitRoot, CacheRoot.Resolve(explicitRoot).Path);
    }

    [Fact]
    public void A_failed_write_leaves_neither_the_file_nor_a_temporary_one()
    {
        var root = new CacheRoot(Fixtures.TempFolder("cache-write"));
        var path = root.EntryPath("area", "entry.bin");
        Assert.Throws<InvalidOperationException>(() => CacheRoot.WriteFile(path, s =>
        {
            s.Write(new byte[100]);
            throw new InvalidOperationException("disk full");
        }));
        Assert.Empty(Directory.GetFileSystemEntries(Path.GetDirectoryName(path)!));

        CacheRoot.WriteFile(path, s => s.Write([1, 2, 3]));
        Assert.Equal([1, 2, 3], File.ReadAllBytes(path));
    }

    [Fact]
    public void Publishing_renames_the_staging_folder_and_a_second_publisher_keeps_the_first_entry()
    {
        var root = new CacheRoot(Fixtures.TempFolder("cache-publish"));
        var entry = root.EntryPath("onnx", "one");
        var first = root.CreateStaging("onnx");
        File.WriteAllText(Path.Combine(first, "f"), "first");
        Assert.True(CacheRoot.Publish(first, entry));

        var second = root.CreateStaging("onnx");
        File.WriteAllText(Path.Combine(second, "f"), "second");
        Assert.False(CacheRoot.Publish(second, entry));
        Assert.Equal("first", File.ReadAllText(Path.Combine(entry, "f")));
        Assert.Equal([entry], Directory.GetDirectories(Path.Combine(root.Path, "onnx")));
    }
}
