//! Replica placement: which brokers hold each partition's replicas. Pure and deterministic
//! (ties are broken by broker id), property-tested over many cluster shapes.
//!
//! Rules, in order of importance:
//! 1. no broker twice in a replica set; only live brokers receive new replicas;
//! 2. minimal movement: growing keeps every current replica and the current leader; shrinking
//!    keeps the leader and drops the replicas whose loss costs least rack spread (replicas on
//!    offline brokers first);
//! 3. racks spread as widely as the cluster allows: a new replica goes to a rack the partition
//!    does not use yet, then to the least-loaded broker;
//! 4. preferred leaders (the first replica) spread evenly across brokers for new partitions.
//!
//! A broker without a rack is its own failure domain.

use std::collections::{BTreeMap, BTreeSet};

/// A live broker that may receive replicas.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveBroker {
    pub id: i32,
    pub rack: Option<String>,
}

/// Replicas and preferred leaderships per broker across the cluster, updated as replicas are placed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Load {
    pub replicas: BTreeMap<i32, usize>,
    pub leaders: BTreeMap<i32, usize>,
}

impl Load {
    /// Counts the replica sets given (first replica = preferred leader).
    pub fn from_assignments<'a>(sets: impl IntoIterator<Item = &'a [i32]>) -> Self {
        let mut load = Load::default();
        load.add(sets);
        load
    }

    /// Counts another load too.
    pub fn add_load(&mut self, other: &Load) {
        for (b, n) in &other.replicas {
            *self.replicas.entry(*b).or_default() += n;
        }
        for (b, n) in &other.leaders {
            *self.leaders.entry(*b).or_default() += n;
        }
    }

    /// Stops counting replica sets counted before with [`Load::add`].
    pub fn remove<'a>(&mut self, sets: impl IntoIterator<Item = &'a [i32]>) {
        for set in sets {
            for b in set {
                if let Some(n) = self.replicas.get_mut(b) {
                    *n = n.saturating_sub(1);
                }
            }
            if let Some(n) = set.first().and_then(|f| self.leaders.get_mut(f)) {
                *n = n.saturating_sub(1);
            }
        }
    }

    /// Counts more replica sets (first replica = preferred leader).
    pub fn add<'a>(&mut self, sets: impl IntoIterator<Item = &'a [i32]>) {
        for set in sets {
            for b in set {
                *self.replicas.entry(*b).or_default() += 1;
            }
            if let Some(first) = set.first() {
                *self.leaders.entry(*first).or_default() += 1;
            }
        }
    }

    fn replicas_of(&self, b: i32) -> usize {
        self.replicas.get(&b).copied().unwrap_or(0)
    }

    fn leaders_of(&self, b: i32) -> usize {
        self.leaders.get(&b).copied().unwrap_or(0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("replication factor {wanted} needs {wanted} live brokers; the cluster has {live}")]
pub struct NotEnoughBrokers {
    pub wanted: usize,
    pub live: usize,
}

/// The cluster's brokers as placement sees them: live ones with racks; anything else is offline.
pub struct Brokers<'a> {
    live: &'a [LiveBroker],
}

impl<'a> Brokers<'a> {
    pub fn new(live: &'a [LiveBroker]) -> Self {
        Brokers { live }
    }

    fn is_live(&self, id: i32) -> bool {
        self.live.iter().any(|b| b.id == id)
    }

    /// The failure domain of a broker: its rack, else the broker itself (also for offline
    /// brokers, whose rack the metadata no longer tells).
    fn domain(&self, id: i32) -> String {
        match self
            .live
            .iter()
            .find(|b| b.id == id)
            .and_then(|b| b.rack.clone())
        {
            Some(rack) => format!("rack:{rack}"),
            None => format!("broker:{id}"),
        }
    }

    fn domains(&self, set: &[i32]) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for b in set {
            *out.entry(self.domain(*b)).or_default() += 1;
        }
        out
    }
}

/// Adds replicas to `set` until it has `target` of them, one at a time: the live broker not in
/// the set whose rack the set uses least, then the least-loaded, then the lowest id.
fn grow(
    set: &mut Vec<i32>,
    target: usize,
    brokers: &Brokers,
    load: &mut Load,
) -> Result<(), NotEnoughBrokers> {
    while set.len() < target {
        let used = brokers.domains(set);
        let pick = brokers
            .live
            .iter()
            .filter(|b| !set.contains(&b.id))
            .min_by_key(|b| {
                (
                    used.get(&brokers.domain(b.id)).copied().unwrap_or(0),
                    load.replicas_of(b.id),
                    b.id,
                )
            })
            .ok_or(NotEnoughBrokers {
                wanted: target,
                live: brokers.live.len(),
            })?;
        set.push(pick.id);
        *load.replicas.entry(pick.id).or_default() += 1;
    }
    Ok(())
}

/// The replica set of an existing partition at `target` replicas. `leader` is the partition's
/// current leader (-1 when offline); it stays in the set and becomes its first (preferred) replica.
pub fn resize(
    current: &[i32],
    leader: i32,
    target: usize,
    brokers: &Brokers,
    load: &mut Load,
) -> Result<Vec<i32>, NotEnoughBrokers> {
    let placeable = current.len()
        + brokers
            .live
            .iter()
            .filter(|b| !current.contains(&b.id))
            .count();
    if target > placeable {
        return Err(NotEnoughBrokers {
            wanted: target,
            live: brokers.live.len(),
        });
    }
    let keep_leader = if current.contains(&leader) {
        leader
    } else {
        current.first().copied().unwrap_or(-1)
    };
    let mut set: Vec<i32> = current.to_vec();
    if let Some(pos) = set.iter().position(|b| *b == keep_leader) {
        let l = set.remove(pos);
        set.insert(0, l);
    }
    if set.len() < target {
        grow(&mut set, target, brokers, load)?;
    }
    while set.len() > target.max(1) {
        // Drop the replica whose loss keeps the most racks: offline ones first, then those on
        // a rack used twice, then the most loaded broker, then the highest id.
        let victim = set[1..]
            .iter()
            .copied()
            .max_by_key(|b| {
                let rest: Vec<i32> = set.iter().copied().filter(|x| x != b).collect();
                (
                    !brokers.is_live(*b),
                    brokers.domains(&rest).len(),
                    load.replicas_of(*b),
                    *b,
                )
            })
            .expect("a set longer than one has a non-leader replica");
        set.retain(|b| *b != victim);
        if let Some(n) = load.replicas.get_mut(&victim) {
            *n = n.saturating_sub(1);
        }
    }
    Ok(set)
}

/// Replica sets for `count` new partitions (a new topic, or partitions added to one).
/// Preferred leaders go to the brokers leading least, so they spread evenly.
pub fn place_new(
    count: usize,
    replication_factor: usize,
    brokers: &Brokers,
    load: &mut Load,
) -> Result<Vec<Vec<i32>>, NotEnoughBrokers> {
    if replication_factor > brokers.live.len() || replication_factor == 0 {
        return Err(NotEnoughBrokers {
            wanted: replication_factor,
            live: brokers.live.len(),
        });
    }
    let mut out = Vec::with_capacity(count);
    for _ in 0..count {
        let leader = brokers
            .live
            .iter()
            .min_by_key(|b| (load.leaders_of(b.id), load.replicas_of(b.id), b.id))
            .expect("at least one live broker");
        let mut set = vec![leader.id];
        *load.replicas.entry(leader.id).or_default() += 1;
        *load.leaders.entry(leader.id).or_default() += 1;
        grow(&mut set, replication_factor, brokers, load)?;
        out.push(set);
    }
    Ok(out)
}

/// Distinct failure domains of a replica set (for reports and tests).
pub fn rack_spread(set: &[i32], brokers: &Brokers) -> usize {
    brokers.domains(set).len()
}

/// Distinct failure domains among live brokers.
pub fn live_domains(brokers: &Brokers) -> BTreeSet<String> {
    brokers.live.iter().map(|b| brokers.domain(b.id)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cluster(racks: &[Option<&str>]) -> Vec<LiveBroker> {
        racks
            .iter()
            .enumerate()
            .map(|(i, r)| LiveBroker {
                id: i as i32 + 1,
                rack: r.map(String::from),
            })
            .collect()
    }

    #[test]
    fn the_incident_topic_grows_from_one_replica_to_three_racks() {
        let live = cluster(&[Some("a"), Some("b"), Some("c")]);
        let b = Brokers::new(&live);
        let mut load = Load::from_assignments([&[1][..]]);
        let set = resize(&[1], 1, 3, &b, &mut load).unwrap();
        assert_eq!(set[0], 1, "the leader stays");
        assert_eq!(rack_spread(&set, &b), 3);
    }

    #[test]
    fn shrinking_drops_a_replica_on_a_doubled_rack() {
        let live = cluster(&[Some("a"), Some("a"), Some("b"), Some("c")]);
        let b = Brokers::new(&live);
        let mut load = Load::default();
        let set = resize(&[3, 1, 2, 4], 3, 3, &b, &mut load).unwrap();
        assert_eq!(set[0], 3);
        assert_eq!(rack_spread(&set, &b), 3, "{set:?}");
        assert!(set.contains(&4));
    }

    #[test]
    fn offline_replicas_are_dropped_first_and_never_added() {
        let live = cluster(&[Some("a"), Some("b"), Some("c")]); // broker 9 is offline
        let b = Brokers::new(&live);
        let set = resize(&[1, 9, 2], 1, 2, &b, &mut Load::default()).unwrap();
        assert_eq!(set, vec![1, 2]);
        let grown = resize(&[1], 1, 3, &b, &mut Load::default()).unwrap();
        assert!(!grown.contains(&9));
    }

    #[test]
    fn too_few_live_brokers_is_an_error() {
        let live = cluster(&[Some("a"), Some("b")]);
        let b = Brokers::new(&live);
        assert_eq!(
            resize(&[1], 1, 3, &b, &mut Load::default()),
            Err(NotEnoughBrokers { wanted: 3, live: 2 })
        );
        assert!(place_new(1, 3, &b, &mut Load::default()).is_err());
    }

    fn shape() -> impl Strategy<Value = (Vec<LiveBroker>, Vec<i32>)> {
        // 1 to 9 brokers, 1 to 3 racks or none, some of brokers 1..=9 offline.
        (
            1usize..=9,
            0usize..=3,
            proptest::collection::vec(any::<bool>(), 9),
        )
            .prop_map(|(n, racks, offline)| {
                let all: Vec<LiveBroker> = (1..=n as i32)
                    .map(|id| LiveBroker {
                        id,
                        rack: if racks == 0 || id % 4 == 0 {
                            None
                        } else {
                            Some(format!("r{}", id as usize % racks))
                        },
                    })
                    .collect();
                let live: Vec<LiveBroker> = all
                    .iter()
                    .filter(|b| !offline[b.id as usize - 1] || b.id == 1)
                    .cloned()
                    .collect();
                let offline_ids = all
                    .iter()
                    .filter(|b| !live.contains(b))
                    .map(|b| b.id)
                    .collect();
                (live, offline_ids)
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        #[test]
        fn new_partitions_are_valid_spread_and_leader_balanced((live, _offline) in shape(), rf in 1usize..=4, count in 1usize..=30) {
            let b = Brokers::new(&live);
            let mut load = Load::default();
            match place_new(count, rf, &b, &mut load) {
                Err(_) => prop_assert!(rf > live.len()),
                Ok(sets) => {
                    prop_assert_eq!(sets.len(), count);
                    for set in &sets {
                        prop_assert_eq!(set.len(), rf);
                        prop_assert_eq!(set.iter().collect::<BTreeSet<_>>().len(), rf, "duplicate broker in {:?}", set);
                        prop_assert!(set.iter().all(|x| live.iter().any(|l| l.id == *x)));
                        prop_assert_eq!(rack_spread(set, &b), rf.min(live_domains(&b).len()), "poor spread {:?}", set);
                    }
                    let mut leaders: BTreeMap<i32, usize> = live.iter().map(|l| (l.id, 0)).collect();
                    for set in &sets { *leaders.get_mut(&set[0]).unwrap() += 1; }
                    let (min, max) = (leaders.values().min().unwrap(), leaders.values().max().unwrap());
                    prop_assert!(max - min <= 1, "leaders unbalanced: {:?}", leaders);
                    // deterministic
                    prop_assert_eq!(place_new(count, rf, &b, &mut Load::default()).unwrap(), sets);
                }
            }
        }

        #[test]
        fn resizing_moves_as_little_as_possible((live, offline) in shape(), current_len in 1usize..=4, target in 1usize..=5, seed in any::<u64>()) {
            let b = Brokers::new(&live);
            // A current replica set drawn from live and offline brokers, without duplicates.
            let mut pool: Vec<i32> = live.iter().map(|l| l.id).chain(offline.iter().copied()).collect();
            pool.sort_unstable();
            let mut current = Vec::new();
            let mut s = seed;
            while current.len() < current_len && !pool.is_empty() {
                let i = (s % pool.len() as u64) as usize;
                current.push(pool.remove(i));
                s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407) >> 1;
            }
            let leader = *current.iter().find(|x| live.iter().any(|l| l.id == **x)).unwrap_or(&-1);
            let mut load = Load::from_assignments([current.as_slice()]);
            let result = resize(&current, leader, target, &b, &mut load);
            let new_live: usize = live.iter().filter(|l| !current.contains(&l.id)).count();
            match result {
                Err(_) => prop_assert!(target > current.len() + new_live),
                Ok(set) => {
                    prop_assert_eq!(set.len(), target);
                    prop_assert_eq!(set.iter().collect::<BTreeSet<_>>().len(), set.len(), "duplicate in {:?}", set);
                    if leader >= 0 { prop_assert_eq!(set[0], leader, "leader moved"); }
                    let cur_domains = rack_spread(&current, &b);
                    if target >= current.len() {
                        prop_assert!(current.iter().all(|c| set.contains(c)), "growing dropped a replica: {:?} -> {:?}", current, set);
                        for added in set.iter().filter(|x| !current.contains(x)) {
                            prop_assert!(live.iter().any(|l| l.id == *added), "offline broker {} added", added);
                        }
                        let new_domains = live_domains(&b).into_iter().filter(|d| !current.iter().any(|c| b.domain(*c) == *d)).count();
                        prop_assert_eq!(rack_spread(&set, &b), cur_domains + (target - current.len()).min(new_domains));
                    } else {
                        prop_assert!(set.iter().all(|x| current.contains(x)), "shrinking added a replica");
                        prop_assert_eq!(set.len(), target);
                        let offline_kept = set.iter().filter(|x| !live.iter().any(|l| l.id == **x)).count();
                        let live_in_current = current.iter().filter(|x| live.iter().any(|l| l.id == **x)).count();
                        if live_in_current >= target { prop_assert_eq!(offline_kept, 0, "kept an offline replica: {:?}", set); }
                        else { prop_assert!(rack_spread(&set, &b) <= target); }
                        if offline_kept == 0 && current.iter().all(|x| live.iter().any(|l| l.id == *x)) {
                            prop_assert_eq!(rack_spread(&set, &b), cur_domains.min(target));
                        }
                    }
                }
            }
        }
    }
}
