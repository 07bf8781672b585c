using TunnelLite.Logging;

namespace TunnelLite.Tests;

public class PeerTextTests
{
    [Theory]
    [InlineData("a\nb", @"a\nb")]
    [InlineData("a\r\nfake line", @"a\r\nfake line")]
    [InlineData("tab\there", @"tab\there")]
    [InlineData("\u001B[31mred\u001B[0m", @"\x1B[31mred\x1B[0m")]
    [InlineData("nul\0", @"nul\x00")]
    [InlineData("del\u007F c1\u0085 csi\u009B", @"del\x7F c1\x85 csi\x9B")]
    [InlineData("evil\u202Etxt.exe", @"evil\u202Etxt.exe")]
    [InlineData("\u2066isolate\u2069 \u200Emark\u200F", @"\u2066isolate\u2069 \u200Emark\u200F")]
    [InlineData("line\u2028para\u2029", @"line\u2028para\u2029")]
    [InlineData(@"C:\temp", @"C:\\temp")]
    public void Escapes_what_could_forge_or_hide_a_line(string input, string expected)
    {
        Assert.Equal(expected, PeerText.Escape(input));
    }

    [Fact]
    public void A_peer_cannot_fake_an_escape()
    {
        // A real newline and a typed backslash-n must not come out the same.
        Assert.NotEqual(PeerText.Escape("a\nb"), PeerText.Escape(@"a\nb"));
        Assert.Equal(@"a\\nb", PeerText.Escape(@"a\nb"));
    }

    [Fact]
    public void Unchanged_text_is_returned_as_it_is()
    {
        const string plain = "web-1 said goodbye: client stopping (Ünïcödé, 日本語, emoji \U0001F600)";
        Assert.Same(plain, PeerText.Escape(plain));
        Assert.Same("", PeerText.Escape(""));
    }

    [Fact]
    public void Null_is_none()
    {
        Assert.Equal("(none)", PeerText.Escape(null));
    }

    [Fact]
    public void Long_text_is_cut_with_a_note()
    {
        var result = PeerText.Escape(new string('x', 1000));
        Assert.Equal(new string('x', 256) + "…(+744 chars)", result);
        Assert.Equal("abc…(+2 chars)", PeerText.Escape("abcde", maxLength: 3));
        Assert.Equal("…(+5 chars)", PeerText.Escape("abcde", maxLength: 0));
    }

    [Fact]
    public void Cut_counts_escapes_and_never_splits_one()
    {
        // "ab" then ESC (4 output chars) does not fit in 5: the escape is left out whole and counted as one input char.
        Assert.Equal("ab…(+2 chars)", PeerText.Escape("ab\u001Bc", maxLength: 5));
        Assert.Equal(@"ab\x1B…(+1 chars)", PeerText.Escape("ab\u001Bc", maxLength: 6));
        Assert.Equal(@"\n\n…(+8 chars)", PeerText.Escape(new string('\n', 10), maxLength: 5));
        // Many escapes: the output stays bounded whatever the input.
        Assert.True(PeerText.Escape(new string('\u001B', 100_000)).Length <= 256 + 20);
    }

    [Fact]
    public void Surrogate_pairs_pass_and_are_not_split_but_lone_ones_are_escaped()
    {
        Assert.Equal("a…(+2 chars)", PeerText.Escape("a\U0001F600", maxLength: 2));
        Assert.Equal("a\U0001F600", PeerText.Escape("a\U0001F600\n", maxLength: 3)[..3]);
        Assert.Equal(@"x\uD800y", PeerText.Escape("x\uD800y"));
        Assert.Equal(@"\uDC00", PeerText.Escape("\uDC00"));
    }
}
