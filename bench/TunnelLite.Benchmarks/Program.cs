using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Running;
using TunnelLite.Forwarding;

namespace TunnelLite.Benchmarks;

public static class Program
{
    /// <summary>Where results go, relative to the repository root.</summary>
    private const string ArtifactsFolder = "bench/results/benchmarkdotnet";

    public static int Main(string[] args)
    {
        var config = DefaultConfig.Instance
            .WithArtifactsPath(ArtifactsPath())
            .AddColumn(ThroughputColumn.Instance, AllocatedPerMegabyteColumn.Instance);

        // A modest default job keeps a full run at a couple of minutes on two cores. An explicit --job
        // (short, dry, medium, ...) replaces it instead of running next to it.
        if (!args.Any(a => a is "--job" or "-j" || a.StartsWith("--job=", StringComparison.Ordinal)))
            config = config.AddJob(Job.Default.WithWarmupCount(3).WithIterationCount(10)
                .WithIterationTime(Perfolizer.Horology.TimeInterval.FromMilliseconds(250)));

        if (!SplicePump.IsSupported)
            Console.WriteLine("// splice(2) is not available here: the SplicePump benchmarks are left out.");

        var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args, config).ToList();
        foreach (var summary in summaries)
            Console.WriteLine($"// {summary.Title}: {summary.ResultsDirectoryPath}");
        var failed = summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success));
        return failed ? 1 : 0;
    }

    /// <summary>bench/results/benchmarkdotnet under the repository root, found from this project's folder
    /// (the one holding TunnelLite.Benchmarks.csproj, above the build output); the current folder's if not found.</summary>
    private static string ArtifactsPath()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "TunnelLite.Benchmarks.csproj")))
                return Path.GetFullPath(Path.Combine(dir.FullName, "..", "..", ArtifactsFolder));
        }
        return Path.GetFullPath(ArtifactsFolder);
    }
}
