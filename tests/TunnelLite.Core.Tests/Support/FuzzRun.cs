using FsCheck;
using FsCheck.Fluent;
using Microsoft.FSharp.Core;

namespace TunnelLite.Tests.Support;

/// <summary>Bounded, replayable FsCheck runs. CI uses a fixed seed and fixed case counts; TUNNELLITE_FUZZ_SEED replays or
/// varies the seed ("seed" or "seed,gamma" as FsCheck prints it, or "random"), TUNNELLITE_FUZZ_COUNT sets the cases per property.</summary>
public static class FuzzRun
{
    /// <summary>The seed of CI runs: fixed, so that a red build is reproducible rather than flaky.</summary>
    public const ulong DefaultSeed = 20261126;

    /// <summary>The generator state of this run.</summary>
    public static Rnd Seed { get; } = ParseSeed(Environment.GetEnvironmentVariable("TUNNELLITE_FUZZ_SEED"));

    /// <summary>Text that replays this run, for failure messages.</summary>
    public static string ReplayHint => $"TUNNELLITE_FUZZ_SEED=\"{Seed.Seed},{Seed.Gamma}\"";

    /// <summary>Cases for a property: <paramref name="ciDefault"/> unless TUNNELLITE_FUZZ_COUNT says otherwise.</summary>
    public static int Count(int ciDefault) =>
        int.TryParse(Environment.GetEnvironmentVariable("TUNNELLITE_FUZZ_COUNT"), out var n) && n > 0 ? n : ciDefault;

    /// <summary>FsCheck settings: throw on failure (the message names the replay seed), fixed case count, this run's seed.</summary>
    public static FsCheck.Config Settings(int ciDefault) => FsCheck.Config.QuickThrowOnFailure
        .WithMaxTest(Count(ciDefault))
        .WithReplay(FSharpOption<Replay>.Some(new Replay(Seed, FSharpOption<int>.None)));

    /// <summary>Checks <paramref name="property"/> for every value of <paramref name="gen"/>; a failure names the seed to replay.</summary>
    public static void Check<T>(Gen<T> gen, int ciDefault, Action<T> property)
    {
        try
        {
            Prop.ForAll(Arb.From(gen), property).Check(Settings(ciDefault));
        }
        catch (Exception e)
        {
            throw new Xunit.Sdk.XunitException($"Property failed; replay with {ReplayHint} (and the Replay FsCheck printed). {e.Message}");
        }
    }

    /// <summary>A deterministic sample of <paramref name="count"/> values of <paramref name="gen"/> for this run's seed.</summary>
    public static T[] Sample<T>(Gen<T> gen, int count, int size = 50) => gen.Sample(count, Seed, size);

    private static Rnd ParseSeed(string? text)
    {
        if (string.IsNullOrWhiteSpace(text)) return new Rnd(DefaultSeed);
        if (text.Trim().Equals("random", StringComparison.OrdinalIgnoreCase)) return new Rnd((ulong)Random.Shared.NextInt64());
        var parts = text.Trim().Trim('(', ')').Split(',', StringSplitOptions.TrimEntries);
        return parts.Length == 2 ? new Rnd(ulong.Parse(parts[0]), ulong.Parse(parts[1])) : new Rnd(ulong.Parse(parts[0]));
    }
}
