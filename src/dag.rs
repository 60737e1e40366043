//! Start order: a topological sort of `depends_on` (Kahn's algorithm) where, among processes
//! whose dependencies are all placed, the lower `priority` goes first, then the name.
//!
//! A leaf module below both `config` (which refuses cycles with the line of the key) and the
//! supervisor: plain indices in, plain indices out, no knowledge of either.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// One node: its name, priority and the indices of the nodes it depends on.
pub struct Node<'a> {
    pub name: &'a str,
    pub priority: i32,
    pub deps: &'a [usize],
}

/// The start order as indices into `nodes`, or the names along one dependency cycle
/// (first name repeated at the end: `a → b → a`).
pub fn order(nodes: &[Node<'_>]) -> Result<Vec<usize>, Vec<String>> {
    let n = nodes.len();
    let mut missing: Vec<usize> = nodes.iter().map(|x| x.deps.len()).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (i, node) in nodes.iter().enumerate() {
        for &d in node.deps {
            dependents[d].push(i);
        }
    }
    let mut ready: BinaryHeap<Reverse<(i32, &str, usize)>> = nodes
        .iter()
        .enumerate()
        .filter(|(i, _)| missing[*i] == 0)
        .map(|(i, x)| Reverse((x.priority, x.name, i)))
        .collect();
    let mut out = Vec::with_capacity(n);
    while let Some(Reverse((_, _, i))) = ready.pop() {
        out.push(i);
        for &j in &dependents[i] {
            missing[j] -= 1;
            if missing[j] == 0 {
                ready.push(Reverse((nodes[j].priority, nodes[j].name, j)));
            }
        }
    }
    if out.len() == n {
        return Ok(out);
    }
    Err(find_cycle(nodes, &missing))
}

/// Follows unmet dependencies from any unplaced node until a node repeats.
fn find_cycle(nodes: &[Node<'_>], missing: &[usize]) -> Vec<String> {
    let Some(start) = (0..nodes.len()).find(|&i| missing[i] > 0) else {
        return Vec::new();
    };
    let mut seen: Vec<usize> = Vec::new();
    let mut cur = start;
    loop {
        if let Some(pos) = seen.iter().position(|&x| x == cur) {
            let mut names: Vec<String> = seen[pos..]
                .iter()
                .map(|&i| nodes[i].name.to_owned())
                .collect();
            names.push(nodes[cur].name.to_owned());
            return names;
        }
        seen.push(cur);
        match nodes[cur].deps.iter().find(|&&d| missing[d] > 0) {
            Some(&d) => cur = d,
            None => return Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names<'a>(nodes: &'a [Node<'a>], order: &[usize]) -> Vec<&'a str> {
        order.iter().map(|&i| nodes[i].name).collect()
    }

    #[test]
    fn diamond_is_topological_with_priority_tie_break() {
        // d depends on b and c, both depend on a; c has the lower priority.
        let nodes = [
            Node {
                name: "d",
                priority: 0,
                deps: &[1, 2],
            },
            Node {
                name: "b",
                priority: 20,
                deps: &[3],
            },
            Node {
                name: "c",
                priority: 10,
                deps: &[3],
            },
            Node {
                name: "a",
                priority: 99,
                deps: &[],
            },
        ];
        let o = order(&nodes).unwrap();
        assert_eq!(names(&nodes, &o), ["a", "c", "b", "d"]);
    }

    #[test]
    fn independent_nodes_sort_by_priority_then_name() {
        let nodes = [
            Node {
                name: "z",
                priority: 1,
                deps: &[],
            },
            Node {
                name: "y",
                priority: 1,
                deps: &[],
            },
            Node {
                name: "x",
                priority: 5,
                deps: &[],
            },
            Node {
                name: "w",
                priority: -3,
                deps: &[],
            },
        ];
        assert_eq!(names(&nodes, &order(&nodes).unwrap()), ["w", "y", "z", "x"]);
    }

    #[test]
    fn cycles_are_named() {
        let nodes = [
            Node {
                name: "a",
                priority: 0,
                deps: &[1],
            },
            Node {
                name: "b",
                priority: 0,
                deps: &[2],
            },
            Node {
                name: "c",
                priority: 0,
                deps: &[0],
            },
            Node {
                name: "free",
                priority: 0,
                deps: &[],
            },
        ];
        let cycle = order(&nodes).unwrap_err();
        assert_eq!(cycle.len(), 4);
        assert_eq!(cycle.first(), cycle.last());
        for n in ["a", "b", "c"] {
            assert!(cycle.iter().any(|x| x == n));
        }
        let selfish = [Node {
            name: "s",
            priority: 0,
            deps: &[0],
        }];
        assert_eq!(order(&selfish).unwrap_err(), ["s", "s"]);
    }
}
