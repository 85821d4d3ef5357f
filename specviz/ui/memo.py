"""One cache for what every session of a server shares: made once per object shown (a trace, a
figure), bounded, and safe across the sessions' threads: when a class following its presenter asks
for the same thing at once, one session makes it and the others wait."""
import threading
from collections import OrderedDict


class Memo:
    """make() once per (owner, key), kept while the owner is in the cache (its id cannot be reused
    meanwhile); the least recently used entry goes past `bound`."""

    def __init__(self, bound: int):
        self.bound, self.items, self.lock, self.building = bound, OrderedDict(), threading.Lock(), {}

    def get(self, owner, key, make):
        key = (id(owner), key)
        while True:
            with self.lock:
                hit = self.items.get(key)
                if hit is not None and hit[0] is owner:
                    self.items.move_to_end(key)
                    return hit[1]
                building = self.building.get(key)
                if building is None:
                    self.building[key] = threading.Event()
                    break
            building.wait(30)  # then look again (the builder failed: build it here)
            with self.lock:
                if self.building.get(key) is building and key not in self.items:
                    self.building.pop(key)
        try:
            made = make()
            with self.lock:
                self.items[key] = (owner, made)
                while len(self.items) > self.bound:
                    self.items.popitem(last=False)
            return made
        finally:
            with self.lock:
                self.building.pop(key).set()
