using System.Collections;

namespace TunnelLite.Tests.Support;

/// <summary>A list that locks each operation on its SyncRoot and says it is synchronized, as PowerShell's PSDataCollection
/// (a job stream) does; <see cref="ReadAll"/> drains it the way Receive-Job does.</summary>
public sealed class SynchronizedList<T> : IList<T>, ICollection
{
    private readonly List<T> _items = new();
    private readonly object _sync = new();

    public List<T> ReadAll()
    {
        lock (_sync)
        {
            var all = _items.ToList();
            _items.Clear();
            return all;
        }
    }

    public T this[int index]
    {
        get { lock (_sync) return _items[index]; }
        set { lock (_sync) _items[index] = value; }
    }

    public int Count { get { lock (_sync) return _items.Count; } }
    public bool IsReadOnly => false;
    public object SyncRoot => _sync;
    public bool IsSynchronized => true;

    public void Add(T item) { lock (_sync) _items.Add(item); }
    public void Clear() { lock (_sync) _items.Clear(); }
    public bool Contains(T item) { lock (_sync) return _items.Contains(item); }
    public void CopyTo(T[] array, int arrayIndex) { lock (_sync) _items.CopyTo(array, arrayIndex); }
    void ICollection.CopyTo(Array array, int index) { lock (_sync) ((ICollection)_items).CopyTo(array, index); }
    public int IndexOf(T item) { lock (_sync) return _items.IndexOf(item); }
    public void Insert(int index, T item) { lock (_sync) _items.Insert(index, item); }
    public bool Remove(T item) { lock (_sync) return _items.Remove(item); }
    public void RemoveAt(int index) { lock (_sync) _items.RemoveAt(index); }
    public IEnumerator<T> GetEnumerator() => ReadSnapshot().GetEnumerator();
    IEnumerator IEnumerable.GetEnumerator() => GetEnumerator();

    private List<T> ReadSnapshot() { lock (_sync) return _items.ToList(); }
}
