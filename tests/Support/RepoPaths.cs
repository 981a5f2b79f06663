namespace CudaI2V.Tests.Support;

/// <summary>Finds the repository root (the folder with CudaI2V.sln) from the test assembly's location.</summary>
public static class RepoPaths
{
    /// <summary>The repository root.</summary>
    public static string Root { get; } = Find();

    private static string Find()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "CudaI2V.sln")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException($"CudaI2V.sln not found above {AppContext.BaseDirectory}.");
    }
}
