//! Interned ACL lists. Most trees use a handful of distinct ACLs over millions of nodes, so
//! nodes share one reference-counted copy of each list (Apache's `ReferenceCountedACLCache`
//! does the same with longs). Clones handed out, e.g. in watch triggers, stay valid after
//! the cache drops a list.

use std::collections::HashMap;
use std::sync::Arc;

use crate::types::Acl;

/// A shared, immutable ACL list.
pub type AclRef = Arc<[Acl]>;

#[derive(Debug, Default, Clone)]
pub(crate) struct AclCache {
    /// Each interned list with the number of nodes using it.
    lists: HashMap<AclRef, usize>,
}

impl AclCache {
    /// Returns the shared copy of `acl`, counting one more node that uses it.
    pub(crate) fn acquire(&mut self, acl: &[Acl]) -> AclRef {
        if let Some((shared, count)) = self.lists.get_key_value(acl) {
            let shared = shared.clone();
            let count = *count + 1;
            self.lists.insert(shared.clone(), count);
            return shared;
        }
        let shared: AclRef = Arc::from(acl);
        self.lists.insert(shared.clone(), 1);
        shared
    }

    /// Counts one node fewer using `acl`, forgetting the list when none is left.
    pub(crate) fn release(&mut self, acl: &[Acl]) {
        if let Some(count) = self.lists.get_mut(acl) {
            *count -= 1;
            if *count == 0 {
                self.lists.remove(acl);
            }
        }
    }

    /// The same counts over the replacement lists in `fresh` (old list -> new list).
    pub(crate) fn rebuilt_with(&self, fresh: &HashMap<AclRef, AclRef>) -> AclCache {
        let lists = self
            .lists
            .iter()
            .map(|(old, count)| {
                (
                    fresh
                        .get(old)
                        .cloned()
                        .unwrap_or_else(|| Arc::from(&old[..])),
                    *count,
                )
            })
            .collect();
        AclCache { lists }
    }

    /// The number of distinct lists in use.
    pub(crate) fn len(&self) -> usize {
        self.lists.len()
    }

    /// The users counted for a list (for invariant checks).
    pub(crate) fn count(&self, acl: &[Acl]) -> usize {
        self.lists.get(acl).copied().unwrap_or(0)
    }
}
