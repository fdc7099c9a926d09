//! The block-streaming evaluator against a brute-force one: random indexes whose sets
//! span several 65,536-ordinal blocks at every density (empty blocks, sparse arrays,
//! bitsets, nearly full), random selector trees of `and`/`or`/`not` up to four deep
//! over every kind of leaf, and the query's exclusions. Every count and member list
//! must equal what testing each ordinal one by one gives — before and after random
//! removals, which turn bitsets back into arrays.

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use roster_core::{AudienceQuery, DeviceFacts, PhoneType, RegionCode, Selector, TagName};
use roster_index::{AppIndex, Node};

const TAGS: usize = 8;

/// One generated device.
#[derive(Debug, Clone)]
struct Dev {
    ord: u32,
    ios: bool,
    brand: &'static str,
    region: Option<String>,
    tags: Vec<TagName>,
    blacklisted: bool,
    off: bool,
}

fn tag(i: usize) -> TagName {
    TagName::parse(format!("t{i}")).expect("tag")
}

/// Devices over four blocks with a hole, tags at densities from one in 5,000 to 95%
/// so that every block mixes array and bitset chunks.
fn devices(seed: u64, n: u32) -> Vec<Dev> {
    let mut state = seed | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let density: [f64; TAGS] = [0.95, 0.5, 0.12, 0.07, 0.03, 0.005, 0.0002, 0.3];
    (0..n)
        .map(|i| {
            // Ordinals jump over block 2 entirely and thin out in block 3.
            let ord = if i < 131_072 { i } else { i + 65_536 * 2 };
            let r = |next: &mut dyn FnMut() -> u64| (next() % 1_000_000) as f64 / 1e6;
            // Densities differ per block so a tag is dense in one block, sparse in the next.
            let block_scale: f64 = [1.0, 0.4, 1.0, 2.0][(ord >> 16).min(3) as usize % 4];
            let tags = (0..TAGS)
                .filter(|t| r(&mut next) < (density[*t] * block_scale).min(1.0))
                .map(tag)
                .collect();
            Dev {
                ord,
                ios: next() % 4 == 0,
                brand: ["hw", "xm", "op"][(next() % 3) as usize],
                region: (next() % 10 != 0)
                    .then(|| format!("{:02}{:02}0000", 11 + next() % 3, 1 + next() % 2)),
                tags,
                blacklisted: next() % 50 == 0,
                off: next() % 7 == 0,
            }
        })
        .collect()
}

fn facts(d: &Dev) -> DeviceFacts<'_> {
    DeviceFacts {
        region: d.region.as_deref(),
        tags: &d.tags,
        blacklisted: d.blacklisted,
        notification_switch: !d.off,
        ..DeviceFacts::bare(
            "c",
            if d.ios {
                PhoneType::Ios
            } else {
                PhoneType::Android
            },
            d.brand,
        )
    }
}

/// A random selector tree.
fn tree() -> impl Strategy<Value = Selector> {
    let leaf = prop_oneof![
        (0..TAGS).prop_map(|t| Selector::Tag(tag(t))),
        Just(Selector::PhoneType(PhoneType::Ios)),
        Just(Selector::PhoneType(PhoneType::Android)),
        prop_oneof![Just("hw"), Just("xm"), Just("nope")].prop_map(|b| Selector::Brand(b.into())),
        prop_oneof![Just("11000000"), Just("12010000"), Just("13020000")]
            .prop_map(|r| Selector::Region(RegionCode::parse(r).expect("region"))),
        Just(Selector::All(true)),
        Just(Selector::All(false)),
    ];
    leaf.prop_recursive(4, 40, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 1..6).prop_map(Selector::And),
            prop::collection::vec(inner.clone(), 1..8).prop_map(Selector::Or),
            inner.prop_map(|x| Selector::Not(Box::new(x))),
        ]
    })
}

/// The tree as the index's node, with some leaves replaced by explicit ordinal lists
/// (what alias, cid and crowd leaves become).
fn node(sel: &Selector, devs: &[Dev], salt: &mut u32) -> Node {
    match sel {
        Selector::And(xs) => Node::And(xs.iter().map(|x| node(x, devs, salt)).collect()),
        Selector::Or(xs) => Node::Or(xs.iter().map(|x| node(x, devs, salt)).collect()),
        Selector::Not(x) => Node::Not(Box::new(node(x, devs, salt))),
        Selector::All(b) => Node::All(*b),
        Selector::Tag(t) if t.as_str() == "t6" => {
            *salt += 1;
            // A list of ordinals, some of them never indexed.
            Node::Ords(
                devs.iter()
                    .map(|d| d.ord)
                    .filter(|o| o.is_multiple_of(7 + *salt))
                    .chain([u32::MAX - 1, 200_000])
                    .collect(),
            )
        }
        leaf => Node::Leaf(leaf.clone()),
    }
}

fn matches(sel: &Selector, d: &Dev, salt: &mut u32) -> bool {
    match sel {
        Selector::And(xs) => xs.iter().fold(true, |acc, x| matches(x, d, salt) & acc),
        Selector::Or(xs) => xs.iter().fold(false, |acc, x| matches(x, d, salt) | acc),
        Selector::Not(x) => !matches(x, d, salt),
        Selector::Tag(t) if t.as_str() == "t6" => {
            *salt += 1;
            d.ord.is_multiple_of(7 + *salt)
        }
        leaf => leaf.matches(&facts(d)),
    }
}

fn check(ix: &AppIndex, devs: &[Dev], sel: &Selector) -> Result<(), TestCaseError> {
    let n = node(sel, devs, &mut 0);
    for (bl, nf) in [(false, false), (true, false), (true, true)] {
        let q = AudienceQuery {
            selector: Selector::All(true),
            exclude_blacklisted: bl,
            exclude_notification_off: nf,
        };
        let want: Vec<u32> = devs
            .iter()
            .filter(|d| matches(sel, d, &mut 0) && !(bl && d.blacklisted) && !(nf && d.off))
            .map(|d| d.ord)
            .collect();
        prop_assert_eq!(
            ix.count(&n, &q),
            want.len() as u64,
            "{:?} bl={} nf={}",
            sel,
            bl,
            nf
        );
        // The same count split across threads by runs of blocks.
        for parts in [2, 3, 5] {
            prop_assert_eq!(
                ix.count_in_parts(&n, &q, parts),
                want.len() as u64,
                "{} parts",
                parts
            );
        }
        let got: Vec<u32> = ix.members(&n, &q).iter().collect();
        prop_assert!(got == want, "members of {:?} bl={} nf={}", sel, bl, nf);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 16, ..ProptestConfig::default() })]

    #[test]
    fn streaming_counts_equal_brute_force(
        seed in any::<u64>(),
        sels in prop::collection::vec(tree(), 6),
        removal_mod in 2u32..9,
    ) {
        let mut devs = devices(seed, 150_000);
        let mut ix = AppIndex::default();
        for d in &devs {
            ix.add_device(d.ord, &facts(d));
        }
        if seed % 2 == 0 {
            // What a rebuild does: sparse sets packed, then written to in that layout.
            ix.shrink_to_fit();
        }
        for sel in &sels {
            check(&ix, &devs, sel)?;
        }
        // Removals thin the first two blocks' bitsets until they turn back into arrays.
        let (kept, gone): (Vec<Dev>, Vec<Dev>) =
            devs.drain(..).partition(|d| d.ord.is_multiple_of(removal_mod) || d.ord >= 131_072);
        for d in &gone {
            ix.remove_device(d.ord, &facts(d));
        }
        for sel in &sels {
            check(&ix, &kept, sel)?;
        }
    }
}

/// An index built in two parts split by block and appended answers exactly as one built
/// in one pass (what a parallel rebuild relies on).
#[test]
fn parts_appended_equal_one_build() {
    let devs = devices(11, 150_000);
    let mut whole = AppIndex::default();
    let (mut first, mut second) = (AppIndex::default(), AppIndex::default());
    for d in &devs {
        whole.add_device(d.ord, &facts(d));
        let part = if d.ord < 131_072 {
            &mut first
        } else {
            &mut second
        };
        part.add_device(d.ord, &facts(d));
    }
    first.append(second);
    assert_eq!(first.len(), whole.len());
    let q = AudienceQuery {
        selector: Selector::All(true),
        exclude_blacklisted: true,
        exclude_notification_off: false,
    };
    let runner = &mut proptest::test_runner::TestRunner::deterministic();
    for _ in 0..40 {
        let sel = tree().new_tree(runner).expect("tree").current();
        let n = node(&sel, &devs, &mut 0);
        assert_eq!(first.count(&n, &q), whole.count(&n, &q), "{sel:?}");
        assert_eq!(first.members(&n, &q), whole.members(&n, &q), "{sel:?}");
    }
}
