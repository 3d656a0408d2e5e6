//! The in-memory key index: for each key, every revision at which it was
//! written (puts and tombstones), in order. Answers which revision of a key
//! is visible at a store revision.
//!
//! Over 600 lines on purpose: about 350 of code doing one job (the index and
//! its compaction rule) and 250 of its unit tests, which stay beside it.

use crate::types::KeyRange;
use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use std::num::NonZeroU64;
use std::ops::Bound;

/// One write of a key: where its record is, and whether it deleted the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KeyRev {
    pub(crate) main: u64,
    pub(crate) sub: u32,
    pub(crate) tombstone: bool,
}

/// A [`KeyRev`] as the index stores it: 12 bytes, the tombstone flag in the
/// top bit of `sub` (subs stay far below 2^31: a record holds at most
/// `MAX_PAYLOAD / 41` ops), and a main revision that is never 0, which lets
/// [`Revs`] use it as its niche.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Packed {
    main: NonZeroU64,
    sub: u32,
}

const TOMBSTONE: u32 = 1 << 31;

impl Packed {
    fn new(r: KeyRev) -> Packed {
        Packed {
            // Revisions start at 1; 0 never reaches the index.
            main: NonZeroU64::new(r.main).unwrap_or(NonZeroU64::MIN),
            sub: r.sub | if r.tombstone { TOMBSTONE } else { 0 },
        }
    }

    fn get(self) -> KeyRev {
        KeyRev {
            main: self.main.get(),
            sub: self.sub & !TOMBSTONE,
            tombstone: self.sub & TOMBSTONE != 0,
        }
    }
}

/// A key's writes, oldest first: most keys have one, stored inline (16 bytes
/// in all, the same as the pointer form thanks to the niche).
#[derive(Debug, Clone)]
enum Revs {
    One(Packed),
    // Boxed on purpose: a Vec inline would make every entry 24 bytes.
    #[allow(clippy::box_collection)]
    Many(Box<Vec<Packed>>),
}

impl Revs {
    fn as_slice(&self) -> &[Packed] {
        match self {
            Revs::One(p) => std::slice::from_ref(p),
            Revs::Many(v) => v,
        }
    }

    fn push(&mut self, p: Packed) {
        match self {
            Revs::One(first) => *self = Revs::Many(Box::new(vec![*first, p])),
            Revs::Many(v) => v.push(p),
        }
    }

    /// Drops the `n` oldest writes; `None` when none remain.
    fn drop_oldest(self, n: usize) -> Option<Revs> {
        let mut v = match self {
            Revs::One(p) => return (n == 0).then_some(Revs::One(p)),
            Revs::Many(v) => *v,
        };
        v.drain(..n.min(v.len()));
        match *v.as_slice() {
            [] => None,
            [one] => Some(Revs::One(one)),
            _ => Some(Revs::Many(Box::new(v))),
        }
    }
}

/// Longest key stored inside the tree's nodes rather than on the heap.
const INLINE_KEY: usize = 30;

/// A key as the index stores it: up to 30 bytes inside the B-tree node
/// itself (32 bytes in all), longer ones on the heap. Lookups compare the
/// bytes in place, without a pointer chase per comparison, and short keys
/// cost no allocation of their own. Ordered and compared as its bytes, and
/// borrowed as [`KeyBytes`], so the map is searched with a plain `&[u8]`
/// seen as one.
#[derive(Clone)]
enum Key {
    Inline { len: u8, bytes: [u8; INLINE_KEY] },
    Heap(Box<[u8]>),
}

impl Key {
    fn as_slice(&self) -> &[u8] {
        match self {
            // (`len` is at most INLINE_KEY: the whole array is never taken.)
            Key::Inline { len, bytes } => bytes.get(..usize::from(*len)).unwrap_or(bytes),
            Key::Heap(b) => b,
        }
    }
}

impl From<&[u8]> for Key {
    fn from(key: &[u8]) -> Key {
        let mut bytes = [0; INLINE_KEY];
        match (bytes.get_mut(..key.len()), u8::try_from(key.len())) {
            (Some(inline), Ok(len)) => {
                inline.copy_from_slice(key);
                Key::Inline { len, bytes }
            }
            _ => Key::Heap(key.into()),
        }
    }
}

/// Key bytes as the index compares them: in byte order, like `[u8]`, but
/// deciding on the first eight bytes with one integer comparison when they
/// differ (random keys almost always do), inline, where `[u8]`'s order
/// calls `memcmp` for every key a search passes.
#[derive(PartialEq, Eq)]
#[repr(transparent)]
struct KeyBytes([u8]);

impl KeyBytes {
    fn new(key: &[u8]) -> &KeyBytes {
        // SAFETY: `KeyBytes` is a `repr(transparent)` wrapper of `[u8]`, so
        // the two references have the same layout and metadata, and the
        // lifetime is carried over.
        unsafe { &*(key as *const [u8] as *const KeyBytes) }
    }
}

impl Ord for KeyBytes {
    fn cmp(&self, other: &KeyBytes) -> std::cmp::Ordering {
        let (a, b) = (&self.0, &other.0);
        if let (Some(x), Some(y)) = (a.first_chunk::<8>(), b.first_chunk::<8>()) {
            // Big-endian integers order as their bytes do.
            let (x, y) = (u64::from_be_bytes(*x), u64::from_be_bytes(*y));
            if x != y {
                return x.cmp(&y);
            }
        }
        a.cmp(b)
    }
}

impl PartialOrd for KeyBytes {
    fn partial_cmp(&self, other: &KeyBytes) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::borrow::Borrow<KeyBytes> for Key {
    fn borrow(&self) -> &KeyBytes {
        KeyBytes::new(self.as_slice())
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    /// Byte order, as [`KeyBytes`] compares it.
    fn cmp(&self, other: &Key) -> std::cmp::Ordering {
        KeyBytes::new(self.as_slice()).cmp(KeyBytes::new(other.as_slice()))
    }
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_slice().fmt(f)
    }
}

/// key -> its writes, oldest first. A tombstone ends a generation; a key
/// whose only surviving write is a tombstone stays indexed (incident 3).
#[derive(Debug, Default)]
pub(crate) struct KeyIndex {
    keys: BTreeMap<Key, Revs>,
    revisions: usize,
}

impl KeyIndex {
    /// Records a write; `rev` is newer than every write already recorded.
    pub(crate) fn push(&mut self, key: &[u8], rev: KeyRev) {
        let p = Packed::new(rev);
        // One search of the tree: the key is copied even when it is there
        // already, which costs less than a second search for a new key.
        match self.keys.entry(Key::from(key)) {
            Entry::Occupied(mut revs) => revs.get_mut().push(p),
            Entry::Vacant(slot) => {
                slot.insert(Revs::One(p));
            }
        }
        self.revisions += 1;
    }

    /// The newest write of `key` at or below `at`, tombstones included.
    pub(crate) fn latest(&self, key: &[u8], at: u64) -> Option<KeyRev> {
        latest_in(self.keys.get(KeyBytes::new(key))?.as_slice(), at)
    }

    /// The put of `key` visible at `at`, `None` when absent or deleted.
    pub(crate) fn visible(&self, key: &[u8], at: u64) -> Option<KeyRev> {
        self.latest(key, at).filter(|r| !r.tombstone)
    }

    /// Keys live at `at` within `range`, in key order, with their visible put.
    pub(crate) fn live_in<'a>(
        &'a self,
        range: &'a KeyRange,
        at: u64,
    ) -> impl Iterator<Item = (&'a [u8], KeyRev)> + 'a {
        let iter: Box<dyn Iterator<Item = (&Key, &Revs)>> = if range.is_single() {
            Box::new(
                self.keys
                    .get_key_value(KeyBytes::new(&range.key))
                    .into_iter(),
            )
        } else {
            // Searched from the start only, ending at the first key past the
            // end, rather than searching for both bounds.
            let start = Bound::Included(KeyBytes::new(range.scan_start()));
            let end = range.scan_end().map(KeyBytes::new);
            Box::new(
                self.keys
                    .range::<KeyBytes, _>((start, Bound::Unbounded))
                    .take_while(move |(k, _)| {
                        end.is_none_or(|end| KeyBytes::new(k.as_slice()) < end)
                    }),
            )
        };
        iter.filter_map(move |(k, revs)| {
            latest_in(revs.as_slice(), at)
                .filter(|r| !r.tombstone)
                .map(|r| (k.as_slice(), r))
        })
    }

    /// True when the index holds this exact write of `key`.
    pub(crate) fn contains(&self, key: &[u8], main: u64, sub: u32) -> bool {
        self.keys.get(KeyBytes::new(key)).is_some_and(|revs| {
            revs.as_slice()
                .binary_search_by(|p| (p.main.get(), p.sub & !TOMBSTONE).cmp(&(main, sub)))
                .is_ok()
        })
    }

    /// Forgets every write that no read at or above `at` can see: for each
    /// key, everything older than its newest write at or below `at`, and that
    /// write too when it is a tombstone below `at` (the tombstone goes
    /// together with every older version, so a deleted key never comes
    /// back). A tombstone exactly at `at` stays: a watch from `at` delivers it.
    pub(crate) fn compact(&mut self, at: u64) {
        let mut removed = 0;
        self.keys.retain(|_, revs| {
            let slice = revs.as_slice();
            let n = slice.partition_point(|p| p.main.get() <= at);
            let Some(newest) = n.checked_sub(1).and_then(|i| slice.get(i)).map(|p| p.get()) else {
                return true;
            };
            let drop = if newest.tombstone && newest.main < at {
                n
            } else {
                n - 1
            };
            if drop == 0 {
                return true;
            }
            removed += drop;
            let placeholder = Revs::One(Packed::new(newest));
            match std::mem::replace(revs, placeholder).drop_oldest(drop) {
                Some(kept) => {
                    *revs = kept;
                    true
                }
                None => false,
            }
        });
        self.revisions -= removed;
    }

    /// Number of keys indexed (deleted ones included).
    pub(crate) fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Number of writes indexed.
    pub(crate) fn revision_count(&self) -> usize {
        self.revisions
    }

    /// Every key in order, with its writes oldest first (for checkpoints).
    pub(crate) fn entries(
        &self,
    ) -> impl Iterator<Item = (&[u8], impl Iterator<Item = KeyRev> + '_)> {
        self.keys
            .iter()
            .map(|(k, revs)| (k.as_slice(), revs.as_slice().iter().map(|p| p.get())))
    }

    /// An index of keys given in strictly increasing order, each with its
    /// writes oldest first (from a checkpoint, which checked both orders).
    pub(crate) fn from_sorted<'a, R: Iterator<Item = KeyRev>>(
        entries: impl Iterator<Item = (&'a [u8], R)>,
    ) -> KeyIndex {
        let mut revisions = 0;
        let keys = entries
            .filter_map(|(key, writes)| {
                let mut revs: Option<Revs> = None;
                for w in writes {
                    let p = Packed::new(w);
                    match &mut revs {
                        Some(r) => r.push(p),
                        None => revs = Some(Revs::One(p)),
                    }
                    revisions += 1;
                }
                revs.map(|r| (Key::from(key), r))
            })
            // Sorted input: BTreeMap builds it in bulk, without searching.
            .collect();
        KeyIndex { keys, revisions }
    }
}

fn latest_in(revs: &[Packed], at: u64) -> Option<KeyRev> {
    let n = revs.partition_point(|p| p.main.get() <= at);
    n.checked_sub(1).and_then(|i| revs.get(i)).map(|p| p.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(main: u64) -> KeyRev {
        KeyRev {
            main,
            sub: 0,
            tombstone: false,
        }
    }

    fn del(main: u64) -> KeyRev {
        KeyRev {
            main,
            sub: 0,
            tombstone: true,
        }
    }

    #[test]
    fn visibility_follows_generations() {
        let mut idx = KeyIndex::default();
        idx.push(b"a", put(2));
        idx.push(b"a", put(4));
        idx.push(b"a", del(6));
        idx.push(b"a", put(8));
        assert_eq!(idx.visible(b"a", 1), None);
        assert_eq!(idx.visible(b"a", 3), Some(put(2)));
        assert_eq!(idx.visible(b"a", 5), Some(put(4)));
        assert_eq!(idx.visible(b"a", 6), None);
        assert_eq!(idx.latest(b"a", 7), Some(del(6)));
        assert_eq!(idx.visible(b"a", 100), Some(put(8)));
        assert_eq!(idx.revision_count(), 4);
    }

    #[test]
    fn compaction_keeps_what_reads_at_or_above_need() {
        let mut idx = KeyIndex::default();
        for r in [put(1), put(3), del(5)] {
            idx.push(b"gone", r);
        }
        for r in [put(2), put(4), put(9)] {
            idx.push(b"live", r);
        }
        for r in [put(1), del(6)] {
            idx.push(b"at", r);
        }
        idx.compact(6);
        assert_eq!(
            idx.latest(b"gone", 100),
            None,
            "tombstone below goes with every older put"
        );
        assert!(!idx.contains(b"gone", 1, 0));
        assert_eq!(idx.visible(b"live", 6), Some(put(4)));
        assert!(!idx.contains(b"live", 2, 0));
        assert!(idx.contains(b"live", 9, 0));
        assert_eq!(
            idx.latest(b"at", 6),
            Some(del(6)),
            "tombstone at the point stays"
        );
        assert!(!idx.contains(b"at", 1, 0));
        assert_eq!(idx.revision_count(), 3);
        assert_eq!(idx.key_count(), 2);
    }

    #[test]
    fn entries_stay_small() {
        assert_eq!(std::mem::size_of::<Revs>(), 16);
        assert_eq!(std::mem::size_of::<Key>(), 32);
        assert_eq!(Packed::new(del(7)).get(), del(7));
        assert_eq!(
            Packed::new(KeyRev {
                main: 9,
                sub: 1000,
                tombstone: false
            })
            .get()
            .sub,
            1000
        );
    }

    #[test]
    fn lone_tombstone_stays_indexed() {
        let mut idx = KeyIndex::default();
        idx.push(b"k", del(9));
        assert_eq!(idx.key_count(), 1);
        assert_eq!(idx.latest(b"k", 9), Some(del(9)));
        assert_eq!(idx.visible(b"k", 9), None);
    }

    #[test]
    fn ranges_list_live_keys_only() {
        let mut idx = KeyIndex::default();
        idx.push(b"a", put(1));
        idx.push(b"b", put(2));
        idx.push(b"c", put(3));
        idx.push(b"b", del(4));
        let keys = |r: KeyRange, at| {
            idx.live_in(&r, at)
                .map(|(k, _)| k.to_vec())
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(KeyRange::all(), 4), vec![b"a".to_vec(), b"c".to_vec()]);
        assert_eq!(keys(KeyRange::all(), 3).len(), 3);
        assert_eq!(keys(KeyRange::range("b", "c"), 3), vec![b"b".to_vec()]);
        assert_eq!(keys(KeyRange::from_key("b"), 4), vec![b"c".to_vec()]);
        assert_eq!(keys(KeyRange::single("c"), 2), Vec::<Vec<u8>>::new());
    }

    #[test]
    fn entries_rebuild_the_same_index() {
        let mut idx = KeyIndex::default();
        idx.push(b"b", put(1));
        idx.push(b"a", put(2));
        idx.push(b"b", del(3));
        idx.push(b"c", del(4));
        idx.push(
            b"b",
            KeyRev {
                main: 5,
                sub: 7,
                tombstone: false,
            },
        );
        let listed = |i: &KeyIndex| {
            i.entries()
                .map(|(k, revs)| (k.to_vec(), revs.collect::<Vec<_>>()))
                .collect::<Vec<_>>()
        };
        let before = listed(&idx);
        assert_eq!(
            before[1],
            (
                b"b".to_vec(),
                vec![
                    put(1),
                    del(3),
                    KeyRev {
                        main: 5,
                        sub: 7,
                        tombstone: false
                    }
                ]
            )
        );
        let rebuilt =
            KeyIndex::from_sorted(before.iter().map(|(k, r)| (&k[..], r.iter().copied())));
        assert_eq!(listed(&rebuilt), before);
        assert_eq!(rebuilt.revision_count(), 5);
        assert_eq!(rebuilt.key_count(), 3);
        assert_eq!(rebuilt.visible(b"b", 4), None);
        assert_eq!(rebuilt.latest(b"c", 9), Some(del(4)));
    }

    #[test]
    fn key_order_is_byte_order() {
        let mut keys: Vec<Vec<u8>> = vec![
            vec![],
            vec![0],
            vec![0, 0],
            vec![1],
            vec![255],
            b"abcdefg".to_vec(),
            b"abcdefgh".to_vec(),
            b"abcdefgh\0".to_vec(),
            b"abcdefgha".to_vec(),
            b"abcdefgi".to_vec(),
            b"abcdefh".to_vec(),
            vec![0x80; 8],
            vec![0x7f; 9],
            vec![0xff; 40],
            vec![b'a'; 31],
        ];
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for len in [3, 8, 12, 24, 30, 31, 64] {
            for _ in 0..4 {
                x = x.rotate_left(17).wrapping_mul(0x2545_f491_4f6c_dd1d);
                let mut k = x.to_be_bytes().repeat(len / 8 + 1);
                k.truncate(len);
                keys.push(k.clone());
                // The same first eight bytes, differing later.
                if len > 8 {
                    k[len - 1] ^= 1;
                    keys.push(k);
                }
            }
        }
        for a in &keys {
            for b in &keys {
                let (ka, kb) = (Key::from(&a[..]), Key::from(&b[..]));
                assert_eq!(ka.cmp(&kb), a.cmp(b), "{a:?} {b:?}");
                assert_eq!(KeyBytes::new(a).cmp(KeyBytes::new(b)), a.cmp(b));
                assert_eq!(ka == kb, a == b);
            }
        }
        let mut idx = KeyIndex::default();
        for (i, k) in keys.iter().enumerate() {
            idx.push(k, put(i as u64 + 1));
        }
        keys.sort();
        keys.dedup();
        let listed: Vec<Vec<u8>> = idx.entries().map(|(k, _)| k.to_vec()).collect();
        assert_eq!(listed, keys);
        for k in &keys {
            assert!(idx.latest(k, u64::MAX).is_some());
        }
    }

    #[test]
    fn inline_and_heap_keys_order_as_bytes() {
        let a30 = vec![b'a'; 30];
        let a31 = vec![b'a'; 31];
        let mut a29b = vec![b'a'; 29];
        a29b.push(b'b');
        let long = vec![b'a'; 200];
        let empty_tail = vec![b'a'; 29];
        let mut idx = KeyIndex::default();
        for (i, k) in [&a29b, &long, &a31, &a30, &empty_tail]
            .into_iter()
            .enumerate()
        {
            idx.push(k, put(i as u64 + 1));
        }
        let order: Vec<Vec<u8>> = idx
            .live_in(&KeyRange::all(), 9)
            .map(|(k, _)| k.to_vec())
            .collect();
        assert_eq!(
            order,
            vec![
                empty_tail.clone(),
                a30.clone(),
                a31.clone(),
                long.clone(),
                a29b.clone()
            ]
        );
        assert_eq!(idx.visible(&a30, 9), Some(put(4)));
        assert_eq!(idx.visible(&a31, 9), Some(put(3)));
        assert_eq!(idx.visible(&long, 9), Some(put(2)));
        assert_eq!(idx.visible(&[b'a'; 28], 9), None);
        // A range that starts between an inline and a heap key.
        let from: Vec<Vec<u8>> = idx
            .live_in(&KeyRange::from_key(a30.clone()), 9)
            .map(|(k, _)| k.to_vec())
            .take(2)
            .collect();
        assert_eq!(from, vec![a30, a31]);
    }
}
