using System.Globalization;

namespace TunnelLite.Config;

/// <summary>
/// The keys whose values are secrets: <c>auth.token</c>, the token of each <c>[[clients]]</c> entry, their previous tokens
/// (<c>previousToken</c>, during a rotation),
/// <c>transport.tls.pfxPassword</c> and the admin endpoint's <c>webServer.password</c>. Messages about them describe a value by its type and length, never by its content,
/// because configuration errors end up in consoles, job streams, CI logs and bug reports.
/// </summary>
internal static class SecretKeys
{
    /// <summary>Schema paths (<see cref="TomlConfigNode.SchemaPath"/>) of the secrets.</summary>
    private static readonly HashSet<string> Secrets = new(StringComparer.Ordinal)
    {
        "auth.token",
        "auth.previousToken",
        "clients.token",
        "clients.previousToken",
        "transport.tls.pfxPassword",
        "webServer.password",
        "proxies.loadBalancer.groupKey",
    };

    /// <summary>Tables that hold a secret: a scalar written where one of them belongs (<c>auth = "..."</c>,
    /// <c>clients = ["..."]</c>) is most likely the secret itself, misplaced.</summary>
    private static readonly HashSet<string> Holders = new(StringComparer.Ordinal) { "auth", "clients" };

    /// <summary>True when a value at <paramref name="schemaPath"/> must not be shown in a message.</summary>
    public static bool IsSecret(string schemaPath) =>
        Secrets.Contains(schemaPath) || Holders.Contains(schemaPath) || IsUnder(schemaPath, Secrets);

    /// <summary>True for the secrets themselves (not their holders): the keys that make a file worth protecting.</summary>
    public static bool HoldsSecret(string schemaPath) => Secrets.Contains(schemaPath);

    /// <summary>"a string of 12 characters": what a message may say about a secret value.</summary>
    public static string Describe(object value) => value switch
    {
        string s => $"a string of {Count(s.Length, "character")} (not shown: a secret)",
        long l => $"an integer of {Count(l.ToString(CultureInfo.InvariantCulture).TrimStart('-').Length, "digit")} (not shown: a secret)",
        double => "a float (not shown: a secret)",
        bool => "a boolean",
        _ => "a date-time (not shown: a secret)",
    };

    // A table written where a secret belongs (auth.token = { value = "..." }) holds it in its keys. (An array's items
    // need no rule: auth.token[0] has the schema path auth.token.)
    private static bool IsUnder(string schemaPath, HashSet<string> paths) =>
        paths.Any(p => schemaPath.StartsWith(p + ".", StringComparison.Ordinal));

    private static string Count(int n, string unit) =>
        n.ToString(CultureInfo.InvariantCulture) + " " + unit + (n == 1 ? "" : "s");
}
