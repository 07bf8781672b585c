namespace TunnelLite.Forwarding;

/// <summary>A kernel pipe used as the splice(2) buffer between two sockets. It tracks how many bytes it holds, so that it
/// goes back to the pool only when empty.</summary>
internal sealed unsafe class SplicePipe : IDisposable
{
    private SplicePipe(int readFd, int writeFd, int capacity)
    {
        ReadFd = readFd;
        WriteFd = writeFd;
        Capacity = capacity;
    }

    public int ReadFd { get; }
    public int WriteFd { get; }

    /// <summary>What the kernel granted (F_GETPIPE_SZ), which can be less than asked under pipe-user-pages-soft.</summary>
    public int Capacity { get; }

    /// <summary>Bytes spliced in and not yet out.</summary>
    public int Buffered { get; set; }

    /// <summary>Creates a non-blocking pipe of about <paramref name="size"/> bytes; null when the system has none to give (EMFILE, ENFILE).</summary>
    /// <exception cref="IOException">Any other failure.</exception>
    public static SplicePipe? TryCreate(int size)
    {
        var fds = stackalloc int[2];
        if (LinuxNative.Pipe2(fds, LinuxNative.O_NONBLOCK | LinuxNative.O_CLOEXEC) != 0)
        {
            var errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            if (errno is LinuxNative.EMFILE or LinuxNative.ENFILE) return null;
            throw new IOException($"pipe2 failed (errno {errno}).");
        }
        // A bigger pipe means fewer splice calls per megabyte; the kernel may refuse (EPERM over the per-user budget),
        // and then the default size stands. Either way, read back what we really have.
        LinuxNative.Fcntl(fds[1], LinuxNative.F_SETPIPE_SZ, size);
        var capacity = LinuxNative.Fcntl(fds[1], LinuxNative.F_GETPIPE_SZ, 0);
        if (capacity <= 0) capacity = 4096;
        return new SplicePipe(fds[0], fds[1], capacity);
    }

    public void Dispose()
    {
        LinuxNative.Close(ReadFd);
        LinuxNative.Close(WriteFd);
    }
}
