using Newtonsoft.Json;

namespace TunnelLite.PowerShell.Output;

/// <summary>Makes PowerShell's JSON (ConvertTo-Json, the bodies of Invoke-RestMethod) write TunnelLite's enums by name, as
/// <c>ConvertTo-Json -EnumsAsStrings</c> would: <c>"Role": "Server"</c>, <c>"ForwardingMode": "Auto"</c>,
/// <c>"DataPlane": "EventLoops"</c>, not 0, 0 and 1.
/// The properties keep their enum types, so sorting, <c>Where-Object ForwardingMode -eq Splice</c>, Export-Csv (which writes
/// names anyway) and C# callers of the engine see no change.
/// <para>Why not a types.ps1xml property that shadows the enum with its name: ConvertTo-Json reads the public properties of
/// the .NET object by reflection and adds an extended property only when no property has its name, so a shadow never
/// reaches the JSON. Json.NET, which ConvertTo-Json hands the values to, does apply the converters of
/// <see cref="JsonConvert.DefaultSettings"/>, and this adds one there for TunnelLite's own enum types only.</para></summary>
internal static class EnumJson
{
    private static readonly object Gate = new();
    private static readonly TunnelEnumConverter Converter = new();
    private static bool _installed;

    /// <summary>Adds the converter to Json.NET's default settings, keeping whatever settings were there; once per process
    /// (the engine types live as long as the process, so it is never taken out).</summary>
    public static void Install()
    {
        lock (Gate)
        {
            if (_installed) return;
            var previous = JsonConvert.DefaultSettings;
            JsonConvert.DefaultSettings = () =>
            {
                var settings = previous?.Invoke() ?? new JsonSerializerSettings();
                // The previous factory may hand out one shared instance: add the converter to it once.
                if (!settings.Converters.Contains(Converter)) settings.Converters.Add(Converter);
                return settings;
            };
            _installed = true;
        }
    }

    /// <summary>Writes an enum of TunnelLite.Core or of this module by name; reads nothing (other enums and reading
    /// are left to Json.NET's defaults).</summary>
    internal sealed class TunnelEnumConverter : JsonConverter
    {
        public override bool CanRead => false;

        public override bool CanConvert(Type objectType)
        {
            var t = Nullable.GetUnderlyingType(objectType) ?? objectType;
            return t.IsEnum && (t.Assembly == typeof(TunnelStats).Assembly || t.Assembly == typeof(EnumJson).Assembly);
        }

        public override void WriteJson(JsonWriter writer, object? value, JsonSerializer serializer)
        {
            if (value is null) writer.WriteNull();
            else writer.WriteValue(value.ToString());
        }

        public override object? ReadJson(JsonReader reader, Type objectType, object? existingValue, JsonSerializer serializer) =>
            throw new NotSupportedException("TunnelLite's enum converter only writes.");
    }
}
