using System.Text.Json;
using System.Text.Json.Serialization;

namespace TunnelLite.Protocol;

/// <summary>Writes a <see cref="TunnelErrorCode"/> by name, and reads a name this build does not know as
/// <see cref="TunnelErrorCode.Unknown"/>: codes are added over time (AddressNotAvailable was), and a peer that sends a newer
/// one still means a failure with a message for people, not a malformed frame. Anything but a string or a number is.</summary>
internal sealed class ErrorCodeJsonConverter : JsonConverter<TunnelErrorCode>
{
    public override TunnelErrorCode Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        switch (reader.TokenType)
        {
            case JsonTokenType.String:
                // Names only: Enum.TryParse would also take "3" or "1, 2", which no peer writes.
                var name = reader.GetString();
                foreach (var code in Enum.GetValues<TunnelErrorCode>())
                    if (string.Equals(code.ToString(), name, StringComparison.Ordinal)) return code;
                return TunnelErrorCode.Unknown;
            case JsonTokenType.Number when reader.TryGetInt32(out var number):
                return Enum.IsDefined((TunnelErrorCode)number) ? (TunnelErrorCode)number : TunnelErrorCode.Unknown;
            default:
                throw new JsonException($"An error code must be a name, not {reader.TokenType}.");
        }
    }

    public override void Write(Utf8JsonWriter writer, TunnelErrorCode value, JsonSerializerOptions options) =>
        writer.WriteStringValue(value.ToString());
}
