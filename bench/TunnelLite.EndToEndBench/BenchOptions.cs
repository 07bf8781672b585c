using System.Globalization;

namespace TunnelLite.Bench;

/// <summary>Command line: --pwsh PATH/pwsh.dll --module PATH/TunnelLite.psd1 --host-script PATH --out FILE [--quick] [--pool N].</summary>
internal sealed class BenchOptions
{
    public required string PwshDll { get; init; }
    public required string ModulePath { get; init; }
    public required string HostScript { get; init; }
    public string? OutFile { get; init; }
    public bool Quick { get; init; }
    public int PoolSize { get; init; } = 16;

    public long BulkBytes => Quick ? 256L << 20 : 1L << 30;
    public int BulkRounds => Quick ? 3 : 5;
    public int Rounds => 3;
    public TimeSpan RunTime => TimeSpan.FromSeconds(Quick ? 1 : 2);
    public int IdleConnections => 1000;
    public int RequestReplyRounds => Quick ? 3 : 7;
    public TimeSpan RequestReplyTime => TimeSpan.FromSeconds(Quick ? 0.5 : 1);

    public static BenchOptions Parse(string[] args)
    {
        string? Get(string name)
        {
            var i = Array.IndexOf(args, name);
            return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
        }
        static string? Full(string? path) => path is null ? null : Path.GetFullPath(path);
        return new BenchOptions
        {
            PwshDll = Full(Get("--pwsh")) ?? throw new ArgumentException("--pwsh PATH/pwsh.dll is required"),
            ModulePath = Full(Get("--module")) ?? throw new ArgumentException("--module PATH/TunnelLite.psd1 is required"),
            HostScript = Full(Get("--host-script")) ?? throw new ArgumentException("--host-script PATH is required"),
            OutFile = Get("--out"),
            Quick = args.Contains("--quick"),
            PoolSize = Get("--pool") is { } p ? int.Parse(p, CultureInfo.InvariantCulture) : 16,
        };
    }
}
