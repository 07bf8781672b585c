using System.Globalization;
using System.Text;
using TunnelLite.Logging;

namespace TunnelLite.Protocol;

/// <summary>Says what a server looks like whose answer to a TunnelLite hello is not a frame, so that a client pointed at the
/// wrong port learns at once what listens there ("an SSH server (SSH-2.0-OpenSSH_9.2)") rather than "Unknown frame type 50"
/// or, after a timeout, nothing. The server-side counterpart, for clients, is <see cref="FrameCodec.DescribeForeignPreamble"/>.</summary>
internal static class ForeignAnswer
{
    /// <summary>What to check, said after every description.</summary>
    public const string Advice = "Check that -Server (serverAddr, serverPort) names the control port of a TunnelLite server (its bindPort, 7000 by default).";

    // A banner or a status line is short; more would only be noise in an error message.
    private const int MaxQuoted = 120;
    private const int MaxHexBytes = 16;

    /// <summary>The message for the server at <paramref name="server"/> whose first bytes were <paramref name="bytes"/>, not a
    /// TunnelLite frame. <paramref name="overTls"/>: the bytes came through TLS (so a TLS record among them means nothing).</summary>
    public static string Describe(string server, ReadOnlySpan<byte> bytes, bool overTls)
    {
        if (!overTls && IsTlsRecord(bytes))
            return $"The server at {server} answered with TLS, but this client does not use TLS. If it is a TunnelLite server " +
                   "that requires TLS, use -Tls (transport.tls.enable = true) and pin its certificate fingerprint (-CertificateFingerprint); " +
                   $"otherwise it is not a TunnelLite server. {Advice}";
        var line = FirstLine(bytes);
        if (line.StartsWith("SSH-", StringComparison.Ordinal))
            return $"The server at {server} looks like an SSH server ({PeerText.Escape(line, MaxQuoted)}), not a TunnelLite server. {Advice}";
        if (line.StartsWith("HTTP/", StringComparison.Ordinal))
            return $"The server at {server} looks like an HTTP server ({PeerText.Escape(line, MaxQuoted)}), not a TunnelLite server. {Advice}";
        if (line.Length > 0 && IsText(bytes[..Math.Min(bytes.Length, line.Length)]))
            return $"The server at {server} is not a TunnelLite server: it answered \"{PeerText.Escape(line, MaxQuoted)}\". {Advice}";
        return $"The server at {server} is not a TunnelLite server: its answer ({Hex(bytes)}) is not a TunnelLite frame. {Advice}";
    }

    /// <summary>A TLS record: content type alert (21) or handshake (22), then major version 3. A TLS server answers bytes that
    /// are not a ClientHello with an alert, or closes.</summary>
    private static bool IsTlsRecord(ReadOnlySpan<byte> bytes) => bytes.Length >= 2 && bytes[0] is 0x15 or 0x16 && bytes[1] == 0x03;

    /// <summary>The bytes up to the first line end, as Latin-1 (any byte is a character, so nothing is lost to decoding).</summary>
    private static string FirstLine(ReadOnlySpan<byte> bytes)
    {
        var end = bytes.IndexOfAny((byte)'\r', (byte)'\n');
        return Encoding.Latin1.GetString(end < 0 ? bytes : bytes[..end]);
    }

    private static bool IsText(ReadOnlySpan<byte> bytes)
    {
        foreach (var b in bytes)
            if (b is < 0x20 and not (byte)'\t' or > 0x7E) return false;
        return true;
    }

    private static string Hex(ReadOnlySpan<byte> bytes)
    {
        var shown = bytes[..Math.Min(bytes.Length, MaxHexBytes)];
        var hex = string.Join(' ', shown.ToArray().Select(b => b.ToString("X2", CultureInfo.InvariantCulture)));
        return bytes.Length > shown.Length ? $"{hex} ... ({bytes.Length} bytes)" : hex;
    }
}
