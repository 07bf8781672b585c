namespace TunnelLite.Security;

/// <summary>How strong a token is, as <see cref="TokenStrength.Assess"/> estimates it.</summary>
/// <param name="EstimatedBits">A conservative estimate of the token's randomness in bits: what a guesser who knows how
/// people and tools make tokens would still have to search. 0 for a well-known value.</param>
/// <param name="IsWeak">True under <see cref="TokenStrength.MinimumBits"/> bits, or for a well-known example or guessable value.</param>
/// <param name="Reason">Why the token is weak, as a sentence fragment for people ("it is a well-known example value");
/// null when it is not weak. It never contains the token or any part of it, so it can be logged.</param>
public sealed record TokenAssessment(double EstimatedBits, bool IsWeak, string? Reason);
