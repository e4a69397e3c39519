"""Personal models: each profile's copy of the base model, taught from all of its drawings.

One teach per profile runs at a time; a request that waited for one finds its drawing either
already taught or taught next, together with everything else added meanwhile. Models are saved
atomically under digitpad's home, with the base weights' checksum and the drawings they learned:
a model whose base changed is taught again from the stored drawings.
"""
import hashlib
import sys
import threading
from pathlib import Path

import torch

from . import home
from .store import Store
from .teaching import teach
from .weights import Loaded, WeightsError, load, save_weights


class PersonalModels:
    def __init__(self, store: Store, base: Loaded, folder: Path | None = None):
        self.store, self.base, self.base_name = store, base, base.name
        self.base_sha256 = hashlib.sha256(base.path.read_bytes()).hexdigest()
        self.folder = Path(folder or home.home() / "profiles")
        self._locks: dict[int, threading.Lock] = {}
        self._guard = threading.Lock()
        self._models: dict[int, Loaded | None] = {}
        self._generation = store.generation

    def path(self, profile: int) -> Path:
        return self.folder / str(profile) / f"{self.base_name}.pt"

    def get(self, profile: int) -> Loaded | None:
        """The profile's model as last saved (it may lag its drawings), or None."""
        if self._generation != self.store.generation:  # the database was begun afresh: ids reused
            self._models.clear()
            self._generation = self.store.generation
        if profile not in self._models:
            self._models[profile] = self._load(profile)
        return self._models[profile]

    def _load(self, profile: int) -> Loaded | None:
        path = self.path(profile)
        if not path.is_file():
            return None
        try:
            model = load(self.base_name, path)
        except WeightsError as e:  # taught again from the drawings on the next update
            print(f"digitpad: {e}", file=sys.stderr, flush=True)
            return None
        # A database moved aside and begun afresh reuses profile ids: not this profile's model.
        return model if model.meta.get("profile_created") == self.store.created(profile) else None

    def current(self, profile: int) -> bool:
        """Whether the saved model has learned exactly the stored drawings, on today's base."""
        model = self.get(profile)
        ids = self.store.ids(profile)
        if model is None:
            return not ids
        return model.meta.get("drawings") == ids and model.meta.get("base_sha256") == self.base_sha256

    def update(self, profile: int) -> Loaded | None:
        """Teach the profile's model from its drawings unless it is current; None when it has
        no drawings. Waits while another teach of this profile runs."""
        with self._guard:
            lock = self._locks.setdefault(profile, threading.Lock())
        with lock:
            if self.current(profile):
                return self.get(profile)
            drawings = self.store.drawings(profile)
            if not drawings:
                self.path(profile).unlink(missing_ok=True)
                self._models[profile] = None
                return None
            x = torch.stack([d.input for d in drawings])
            labels = torch.tensor([d.label for d in drawings])
            meta = {"base": self.base_name, "base_sha256": self.base_sha256,
                    "drawings": [d.id for d in drawings], "profile_created": self.store.created(profile)}
            taught = Loaded(self.base_name, teach(self.base.module, x, labels), self.path(profile), meta)
            try:
                save_weights(taught.module, self.base_name, taught.path, **meta)
            except OSError as e:  # a home turned read-only: the model serves from memory
                print(f"digitpad: could not save {taught.path}: {e}", file=sys.stderr, flush=True)
            self._models[profile] = taught
            return taught
