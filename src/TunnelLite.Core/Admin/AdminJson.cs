using System.Text.Json;
using System.Text.Json.Serialization;

namespace TunnelLite.Admin;

/// <summary>The JSON settings of the admin API, shared by the server and <see cref="AdminClient"/>: the same field names
/// as the .NET objects (TunnelStats' PascalCase), enums by name, TimeSpans as "c" strings (System.Text.Json's default).</summary>
internal static class AdminJson
{
    /// <summary>The settings.</summary>
    public static JsonSerializerOptions Options { get; } = new()
    {
        PropertyNamingPolicy = null,
        Converters = { new JsonStringEnumConverter() },
        // Escape <, >, & and quotes as \u003C...: a name a peer chose stays inert even if some page pasted the JSON as HTML.
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.Default,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };
}
