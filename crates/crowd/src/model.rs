//! The TF-IDF model: documents, document frequencies, normalised vectors, cosine.

use std::collections::{BTreeMap, HashMap};

use crate::text::{features, TagKeys};
use crate::{Inputs, PushCopy, Term, MAX_TERMS, TOPIC_WEIGHT};

/// Feature → term frequency, in feature order.
pub(crate) type Bag = BTreeMap<String, f64>;

/// The bag of a tag name: its features, plus its key (squeezed name) when the key
/// is valid and not already a feature (`NBA 篮球` → `nba`, `篮球`, `nba篮球`).
pub(crate) fn tag_bag(name: &str) -> Bag {
    let mut bag = Bag::new();
    for f in features(name) {
        *bag.entry(f).or_insert(0.0) += 1.0;
    }
    if let Some(key) = TagKeys::key(name) {
        bag.entry(key).or_insert(1.0);
    }
    bag
}

/// The bag of a text made of weighted parts (a copy is `[(topic, 2), (content, 1)]`,
/// any other text one part of weight 1): each feature counts its part's weight per
/// occurrence. Then each tag key found in the squeezed text that segmentation did
/// not already produce as a feature is added, counting the part's weight per
/// occurrence, so that the text shares that feature with the tag.
pub(crate) fn text_bag(parts: &[(&str, f64)], keys: &TagKeys) -> Bag {
    let mut bag = Bag::new();
    for &(part, weight) in parts {
        for f in features(part) {
            *bag.entry(f).or_insert(0.0) += weight;
        }
    }
    let mut bonus = Bag::new();
    for &(part, weight) in parts {
        for (key, n) in keys.occurrences(part) {
            if !bag.contains_key(&key) {
                *bonus.entry(key).or_insert(0.0) += weight * f64::from(n);
            }
        }
    }
    bag.extend(bonus);
    bag
}

/// A sparse vector: (feature id, weight), ascending by id.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Vector(Vec<(u32, f64)>);

impl Vector {
    /// The cosine of two normalised vectors: their dot product, clamped to [0, 1].
    pub(crate) fn cosine(&self, other: &Vector) -> f64 {
        let (a, b) = (&self.0, &other.0);
        let (mut i, mut j, mut dot) = (0, 0, 0.0);
        while i < a.len() && j < b.len() {
            match a[i].0.cmp(&b[j].0) {
                std::cmp::Ordering::Less => i += 1,
                std::cmp::Ordering::Greater => j += 1,
                std::cmp::Ordering::Equal => {
                    dot += a[i].1 * b[j].1;
                    i += 1;
                    j += 1;
                }
            }
        }
        dot.clamp(0.0, 1.0)
    }
}

/// Document frequencies over the app's documents.
#[derive(Debug, Default)]
pub(crate) struct Corpus {
    ids: HashMap<String, u32>,
    names: Vec<String>,
    df: Vec<u32>,
    docs: u64,
}

impl Corpus {
    /// Counts `bag` as one document; returns its term frequencies by feature id.
    pub(crate) fn add(&mut self, bag: Bag) -> Vec<(u32, f64)> {
        self.docs += 1;
        let mut tf = Vec::with_capacity(bag.len());
        for (name, n) in bag {
            let id = match self.ids.get(&name) {
                Some(&id) => id,
                None => {
                    let id = self.names.len() as u32;
                    self.ids.insert(name.clone(), id);
                    self.names.push(name);
                    self.df.push(0);
                    id
                }
            };
            self.df[id as usize] += 1;
            tf.push((id, n));
        }
        tf.sort_unstable_by_key(|&(id, _)| id);
        tf
    }

    /// Smooth idf: `ln((1 + N) / (1 + df)) + 1`, always > 0.
    pub(crate) fn idf(&self, id: u32) -> f64 {
        let df = self.df.get(id as usize).copied().unwrap_or(0);
        ((1.0 + self.docs as f64) / (1.0 + f64::from(df))).ln() + 1.0
    }

    /// tf × idf, L2-normalised (empty when the text has no feature).
    pub(crate) fn vector(&self, tf: &[(u32, f64)]) -> Vector {
        let raw: Vec<(u32, f64)> = tf.iter().map(|&(id, n)| (id, n * self.idf(id))).collect();
        let norm = raw.iter().map(|&(_, w)| w * w).sum::<f64>().sqrt();
        if norm > 0.0 {
            Vector(raw.into_iter().map(|(id, w)| (id, w / norm)).collect())
        } else {
            Vector::default()
        }
    }

    /// A feature's text.
    pub(crate) fn name(&self, id: u32) -> &str {
        self.names.get(id as usize).map_or("", String::as_str)
    }
}

/// Every vector one `pick` needs.
#[derive(Debug)]
pub(crate) struct Model {
    pub(crate) corpus: Corpus,
    pub(crate) tags: Vec<Vector>,
    pub(crate) opens: Vec<Vector>,
    pub(crate) copies: Vec<Vector>,
}

impl Model {
    /// The documents are, in this order: the tag names, the opened texts, the seen
    /// copy and the copies being picked for (each topic + content one document).
    pub(crate) fn build(copies: &[PushCopy<'_>], inputs: &Inputs<'_>) -> Self {
        let keys = TagKeys::new(inputs.tags.iter().map(|&(name, _)| name));
        let mut corpus = Corpus::default();
        let tags: Vec<_> = inputs
            .tags
            .iter()
            .map(|&(name, _)| corpus.add(tag_bag(name)))
            .collect();
        let opens: Vec<_> = inputs
            .opens
            .iter()
            .map(|&(text, _)| corpus.add(text_bag(&[(text, 1.0)], &keys)))
            .collect();
        for &text in &inputs.seen {
            corpus.add(text_bag(&[(text, 1.0)], &keys));
        }
        let copy_tf: Vec<_> = copies
            .iter()
            .map(|c| {
                let parts = [(c.topic, TOPIC_WEIGHT), (c.content, 1.0)];
                corpus.add(text_bag(&parts, &keys))
            })
            .collect();
        let vectors = |tfs: Vec<Vec<(u32, f64)>>, corpus: &Corpus| -> Vec<Vector> {
            tfs.iter().map(|tf| corpus.vector(tf)).collect()
        };
        Self {
            tags: vectors(tags, &corpus),
            opens: vectors(opens, &corpus),
            copies: vectors(copy_tf, &corpus),
            corpus,
        }
    }

    /// A copy's heaviest features: at most [`MAX_TERMS`], by weight descending, ties
    /// by term.
    pub(crate) fn terms(&self, copy: usize) -> Vec<Term> {
        let Some(v) = self.copies.get(copy) else {
            return Vec::new();
        };
        let mut terms: Vec<Term> =
            v.0.iter()
                .map(|&(id, weight)| Term {
                    term: self.corpus.name(id).to_owned(),
                    weight,
                })
                .collect();
        terms.sort_by(|a, b| b.weight.total_cmp(&a.weight).then(a.term.cmp(&b.term)));
        terms.truncate(MAX_TERMS);
        terms
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::FLOOR;
    use roaring::RoaringBitmap;

    fn model(tags: &[&str], copy: (&str, &str), seen: &[&str]) -> Model {
        let empty = RoaringBitmap::new();
        let inputs = Inputs {
            tags: tags.iter().map(|&t| (t, &empty)).collect(),
            opens: Vec::new(),
            seen: seen.to_vec(),
            eligible: &empty,
        };
        let copies = [PushCopy {
            topic: copy.0,
            content: copy.1,
        }];
        Model::build(&copies, &inputs)
    }

    #[test]
    fn basketball_tag_matches_basketball_copy_and_food_does_not() {
        let m = model(&["篮球", "美食"], ("今晚篮球决赛开打", ""), &[]);
        let basketball = m.copies[0].cosine(&m.tags[0]);
        let food = m.copies[0].cosine(&m.tags[1]);
        assert!(basketball > FLOOR, "{basketball}");
        assert_eq!(food, 0.0);
    }

    #[test]
    fn long_tag_matches_through_a_bigram() {
        let m = model(&["篮球赛"], ("今晚篮球决赛", ""), &[]);
        assert!(m.copies[0].cosine(&m.tags[0]) > FLOOR);
    }

    #[test]
    fn tag_name_inside_copy_matches_whatever_the_segmentation() {
        // The name is found in the squeezed copy, so the copy gets the tag's key.
        let bag = text_bag(&[("今晚NBA 篮球之夜", 1.0)], &TagKeys::new(["NBA篮球"]));
        assert!(bag.contains_key("nba篮球"), "{bag:?}");
        assert!(tag_bag("NBA篮球").contains_key("nba篮球"));
        let m = model(&["NBA篮球"], ("今晚NBA 篮球之夜", ""), &[]);
        assert!(m.copies[0].cosine(&m.tags[0]) > 0.5);
    }

    #[test]
    fn topic_counts_twice() {
        let bag = text_bag(&[("篮球", 2.0), ("篮球 足球", 1.0)], &TagKeys::default());
        assert_eq!(bag.get("篮球"), Some(&3.0));
        assert_eq!(bag.get("足球"), Some(&1.0));
    }

    #[test]
    fn common_feature_weighs_less_than_rare_one() {
        let mut c = Corpus::default();
        let a = c.add(text_bag(&[("今晚 篮球", 1.0)], &TagKeys::default()));
        c.add(text_bag(&[("今晚 足球", 1.0)], &TagKeys::default()));
        c.add(text_bag(&[("今晚 美食", 1.0)], &TagKeys::default()));
        let id = |name: &str| c.ids[name];
        assert!(c.idf(id("今晚")) < c.idf(id("篮球")));
        assert!(c.idf(id("今晚")) > 0.0);
        let v = c.vector(&a);
        let w = |name: &str| v.0.iter().find(|e| e.0 == id(name)).map(|e| e.1);
        assert!(w("今晚") < w("篮球"));
        let norm: f64 = v.0.iter().map(|e| e.1 * e.1).sum();
        assert!((norm - 1.0).abs() < 1e-9);
    }

    #[test]
    fn cosine_bounds() {
        let m = model(&["篮球", "足球"], ("篮球", ""), &["足球 篮球"]);
        assert!((m.copies[0].cosine(&m.tags[0]) - 1.0).abs() < 1e-9);
        assert_eq!(m.copies[0].cosine(&m.tags[1]), 0.0);
        assert_eq!(Vector::default().cosine(&m.tags[0]), 0.0);
    }

    #[test]
    fn terms_are_sorted_and_capped() {
        let text = "篮球 足球 美食 旅游 理财 游戏 电影 音乐 汽车 母婴 健身 数码";
        let m = model(&[], ("篮球", text), &[]);
        let t = m.terms(0);
        assert_eq!(t.len(), MAX_TERMS);
        assert_eq!(t[0].term, "篮球");
        assert!(t.windows(2).all(|w| w[0].weight >= w[1].weight));
        assert!(m.terms(5).is_empty());
    }
}
