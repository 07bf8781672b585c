using System.Text;

namespace TunnelLite.Admin;

/// <summary>Parses an HTTP/1.x request head from bytes, in the manner of Kestrel's HttpParser and of
/// <see cref="Protocol.FrameCodec"/>: it never waits and never throws on what a peer sent; it says whether the head is
/// complete, incomplete (read more), or rejected with the status to answer.</summary>
internal static class Http1Parser
{
    /// <summary>How a parse went.</summary>
    public enum Outcome { Incomplete, Complete, Rejected }

    /// <summary>The result: on Complete, the head and the bytes it took; on Rejected, the status and the reason.</summary>
    public readonly record struct Result(Outcome Outcome, HttpRequestHead? Head = null, int Consumed = 0, int Status = 0, string? Reason = null)
    {
        public static Result Reject(int status, string reason) => new(Outcome.Rejected, Status: status, Reason: reason);
    }

    private static ReadOnlySpan<byte> HeadEnd => "\r\n\r\n"u8;

    /// <summary>Parses the head at the start of <paramref name="buffer"/>. A head that has not ended within
    /// <paramref name="maxHeadBytes"/> is rejected with 431 even if more bytes could complete it.</summary>
    public static Result TryParse(ReadOnlySpan<byte> buffer, int maxHeadBytes, int maxHeaders)
    {
        // Browsers and tools all send CRLF; a bare LF is accepted too (RFC 9112 2.2 allows it), a bare CR is not.
        var end = FindHeadEnd(buffer, out var terminatorLength);
        if (end < 0)
        {
            if (buffer.Length >= maxHeadBytes) return Result.Reject(431, "The request head is too large.");
            // A peer that opens with something that cannot start a request line is told at once, not after the deadline.
            return LooksLikeRequestStart(buffer) ? new Result(Outcome.Incomplete) : Result.Reject(400, "This is not an HTTP request.");
        }
        if (end + terminatorLength > maxHeadBytes) return Result.Reject(431, "The request head is too large.");
        var head = buffer[..end];
        foreach (var b in head)
            if (b == 0) return Result.Reject(400, "The request head contains a NUL byte.");

        var lines = SplitLines(head);
        if (lines.Count == 0) return Result.Reject(400, "The request line is missing.");
        var request = ParseRequestLine(lines[0]);
        if (request is null) return Result.Reject(400, "The request line is malformed; expected METHOD /path HTTP/1.1.");
        var (method, target, minor) = request.Value;
        if (lines.Count - 1 > maxHeaders) return Result.Reject(431, "The request has too many headers.");
        if (!TrySplitTarget(target, out var segments, out var query)) return Result.Reject(400, "The request target is malformed.");
        var result = new HttpRequestHead { Method = method, Segments = segments, Query = query, MinorVersion = minor, Close = minor == 0 };
        var hosts = 0;
        var lengths = 0;
        for (var i = 1; i < lines.Count; i++)
        {
            var line = lines[i];
            // Obsolete line folding (a header continued on an indented line) is a smuggling vector: refuse it (RFC 9112 5.2).
            if (line.Length > 0 && (line[0] == ' ' || line[0] == '\t')) return Result.Reject(400, "Folded header lines are not accepted.");
            var colon = line.IndexOf(':');
            if (colon <= 0) return Result.Reject(400, "A header line has no name.");
            var name = line[..colon];
            foreach (var c in name)
                if (!IsTokenChar(c)) return Result.Reject(400, "A header name contains a character it may not.");
            var value = line[(colon + 1)..].Trim(' ', '\t');
            foreach (var c in value)
                if (c < 0x20 && c != '\t' || c == 0x7f) return Result.Reject(400, "A header value contains a control character.");
            switch (name.ToLowerInvariant())
            {
                case "host":
                    if (++hosts > 1) return Result.Reject(400, "The request has more than one Host header.");
                    result.Host = value;
                    break;
                case "authorization":
                    result.Authorization = value;
                    break;
                case "origin":
                    result.Origin = value;
                    break;
                case "content-length":
                    if (++lengths > 1 || !long.TryParse(value, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var length))
                        return Result.Reject(400, "The Content-Length header is malformed.");
                    result.ContentLength = length;
                    break;
                case "transfer-encoding":
                    result.HasTransferEncoding = true;
                    break;
                case "connection":
                    foreach (var option in value.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
                    {
                        if (option.Equals("close", StringComparison.OrdinalIgnoreCase)) result.Close = true;
                        else if (option.Equals("keep-alive", StringComparison.OrdinalIgnoreCase) && minor == 0) result.Close = false;
                    }
                    break;
            }
        }
        if (minor == 1 && hosts == 0) return Result.Reject(400, "An HTTP/1.1 request must have a Host header.");
        return new Result(Outcome.Complete, result, end + terminatorLength);
    }

    private static int FindHeadEnd(ReadOnlySpan<byte> buffer, out int terminatorLength)
    {
        for (var i = 0; i < buffer.Length; i++)
        {
            if (buffer[i] != '\n') continue;
            // "\n\n" or "\n\r\n" after a line: the blank line that ends the head.
            if (i + 1 < buffer.Length && buffer[i + 1] == '\n') { terminatorLength = 2; return i; }
            if (i + 2 < buffer.Length && buffer[i + 1] == '\r' && buffer[i + 2] == '\n') { terminatorLength = 3; return i; }
        }
        terminatorLength = 0;
        return -1;
    }

    private static List<string> SplitLines(ReadOnlySpan<byte> head)
    {
        // Latin-1: every byte maps to one char, so that nothing a peer sends can fail to decode.
        var text = Encoding.Latin1.GetString(head);
        var lines = new List<string>();
        foreach (var raw in text.Split('\n'))
            lines.Add(raw.EndsWith('\r') ? raw[..^1] : raw);
        return lines;
    }

    private static bool LooksLikeRequestStart(ReadOnlySpan<byte> buffer)
    {
        foreach (var b in buffer)
        {
            if (b == ' ') return true;
            if (!IsTokenChar((char)b)) return false;
        }
        return true;
    }

    private static (string Method, string Target, int Minor)? ParseRequestLine(string line)
    {
        var parts = line.Split(' ');
        if (parts.Length != 3) return null;
        var (method, target, version) = (parts[0], parts[1], parts[2]);
        if (method.Length is 0 or > 16 || method.Any(c => !IsTokenChar(c))) return null;
        if (target.Length == 0 || target.Any(c => c <= 0x20 || c >= 0x7f)) return null;
        var minor = version switch { "HTTP/1.1" => 1, "HTTP/1.0" => 0, _ => -1 };
        return minor < 0 ? null : (method, target, minor);
    }

    private static bool TrySplitTarget(string target, out string[] segments, out string query)
    {
        segments = Array.Empty<string>();
        query = "";
        // Origin form only ("/path?query"); "*" and absolute URIs are for proxies, which this is not.
        if (target[0] != '/') return false;
        var q = target.IndexOf('?');
        var rawPath = q < 0 ? target : target[..q];
        query = q < 0 ? "" : target[(q + 1)..];
        // Split first, decode each segment after: a tunnel named "a/b" arrives as a%2Fb and stays one segment.
        segments = rawPath.Split('/', StringSplitOptions.RemoveEmptyEntries);
        for (var i = 0; i < segments.Length; i++)
        {
            segments[i] = Uri.UnescapeDataString(segments[i]);
            if (segments[i].Contains('\0') || segments[i] is "." or "..") return false;
        }
        return true;
    }

    private static bool IsTokenChar(char c) =>
        c is >= 'a' and <= 'z' or >= 'A' and <= 'Z' or >= '0' and <= '9'
        || "!#$%&'*+-.^_`|~".Contains(c);
}
