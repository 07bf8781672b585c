using Microsoft.Extensions.Logging;

namespace TunnelLite.Logging;

/// <summary>The event ids the engine logs with, so that a sink can tell events apart without parsing messages. A sink that
/// keeps a bounded number of records should keep <see cref="Security"/> events apart from the rest: strangers can cause
/// other warnings at will, and must not be able to push the evidence of their login attempts out of the log.</summary>
public static class LogEvents
{
    /// <summary>Security-relevant events: failed authentications and logins refused while throttled, one by one or summed up
    /// for a window.</summary>
    public static readonly EventId Security = new(9001, "Security");

    /// <summary>Other warnings strangers cause (garbage on the control port, handshakes not completed, connections refused at
    /// a limit), one by one or summed up for a window.</summary>
    public static readonly EventId Stranger = new(9002, "Stranger");

    /// <summary>Whether <paramref name="eventId"/> is a <see cref="Security"/> event (compared by number, as
    /// <see cref="EventId"/> equality is).</summary>
    public static bool IsSecurity(EventId eventId) => eventId.Id == Security.Id;
}
