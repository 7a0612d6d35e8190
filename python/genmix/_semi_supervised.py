"""Semi-supervised Gaussian mixtures (``semi_supervised=True``): the labels of y, the
initial components fitted to each class's labelled rows, and predictions of classes.

Component ``j`` belongs to class ``classes_[j // m]``, ``m = n_components // n_classes``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from ._base import check_is_fitted
from ._gmm_init import kmeans_labels
from ._validation import check_partial_labels


class SemiSupervisedMixin:
    """The semi-supervised part of :class:`GaussianMixture`."""

    def _check_labels(self, y, n, do_init):
        """(classes, per-row class index int64 with -1 = free, component class index) or Nones."""
        owner = type(self).__name__
        if not self.semi_supervised:
            return None, None, None
        k = self.n_components
        if not do_init and not hasattr(self, "classes_"):
            raise ValueError(f"{owner}: warm_start with semi_supervised=True needs a previous semi-supervised fit "
                             "(the fitted model has no classes_).")
        if y is None:
            if do_init:
                raise ValueError(f"{owner}: semi_supervised=True needs y (a class per row, -1 = unlabelled).")
            return self.classes_, np.full(n, -1, dtype=np.int64), self._component_class_index
        y, labelled = check_partial_labels(y, n, owner)
        if do_init:
            if not labelled.any():
                raise ValueError(f"{owner}: semi_supervised=True needs at least one labelled row; every label "
                                 "in y is -1.")
            try:
                classes = np.unique(y[labelled])
            except TypeError as exc:
                raise ValueError(f"{owner}: the labels in y cannot be sorted ({exc}).") from None
            if k % len(classes):
                raise ValueError(f"{owner}: with semi_supervised=True n_components must be a multiple of the "
                                 f"number of classes; got n_components={k} for {len(classes)} classes "
                                 f"{list(classes)!r}.")
            component_class = np.arange(k, dtype=np.int64) // (k // len(classes))
        else:
            classes, component_class = self.classes_, self._component_class_index
        row_class = np.full(n, -1, dtype=np.int64)
        if labelled.any():
            try:
                yl = y[labelled]
                idx = np.searchsorted(classes, yl)
                idx_c = np.minimum(idx, len(classes) - 1)
                ok = classes[idx_c] == yl
            except (TypeError, ValueError):
                ok = np.zeros(int(labelled.sum()), dtype=bool)
            if not np.all(ok):
                unknown = np.unique(np.asarray(y[labelled], dtype=object)[~ok].astype(str))[:5]
                raise ValueError(f"{owner}: y contains labels not among the known classes {list(classes)!r}: "
                                 f"{list(unknown)!r}.")
            row_class[labelled] = idx_c
            if not do_init:  # hard EM may have dropped (weight 0) every component of a class
                alive = np.zeros(len(classes), dtype=bool)
                np.logical_or.at(alive, component_class, np.asarray(self.weights_) > 0)
                dead = np.setdiff1d(np.unique(idx_c), np.flatnonzero(alive))
                if len(dead):
                    raise ValueError(f"{owner}: every component of class(es) {list(classes[dead])!r} was dropped "
                                     "by hard EM (weight 0), so rows labelled with them cannot be fitted; refit "
                                     "without warm_start.")
        return classes, row_class, component_class

    @property
    def _component_class_index(self):
        """Index into classes_ of each component: class-major, len(means_) // len(classes_) each."""
        k = len(self.means_)
        return np.arange(k, dtype=np.int64) // (k // len(self.classes_))

    def _check_labelled_rows(self, row_class, component_class, sw):
        """Every class needs enough labelled rows (of positive weight) for its initial components."""
        n_classes = int(component_class.max()) + 1
        m = self.n_components // n_classes
        lab = row_class >= 0
        if sw is not None:
            lab &= sw > 0
        counts = np.bincount(row_class[lab], minlength=n_classes)
        bad = np.flatnonzero(counts < m)
        if len(bad):
            raise ValueError(f"{type(self).__name__}: each class needs at least {m} labelled row(s) of positive "
                             f"weight to initialise its {m} component(s); class index(es) {bad.tolist()} have "
                             f"{counts[bad].tolist()}.")


    def _initial_labels_semi_supervised(self, X, seed, n_threads, sw, row_class, component_class):
        """Initial hard labels from the labelled rows only: class c's components get its rows."""
        k = self.n_components
        n_classes = int(component_class.max()) + 1
        m = k // n_classes
        labels = np.full(X.shape[0], -1, dtype=np.int64)
        lab = row_class >= 0
        if sw is not None:
            lab &= sw > 0
        if m == 1:
            labels[lab] = row_class[lab]
            return labels
        for c in range(n_classes):
            rows = np.flatnonzero(lab & (row_class == c))
            Xs = np.ascontiguousarray(X[rows])
            ws = None if sw is None else np.ascontiguousarray(sw[rows])
            sub = kmeans_labels(Xs, m, seed + c, n_threads, ws, self.init_params == "kmeans")
            labels[rows] = np.where(sub >= 0, c * m + sub, -1)
        return labels


    def _check_classes(self):
        check_is_fitted(self, "precisions_cholesky_")
        if not hasattr(self, "classes_"):
            raise AttributeError(f"{type(self).__name__}: predict_class and predict_class_proba need a model "
                                 "fitted with semi_supervised=True and labels y.")

    def predict_class_proba(self, X: ArrayLike) -> np.ndarray:
        """Posterior probability of each class, the sum of its components' posteriors: an
        array of shape (n_samples, n_classes), columns in the order of ``classes_``. Only
        for a model fitted with ``semi_supervised=True``."""
        self._check_classes()
        resp = self.predict_proba(X)
        idx = self._component_class_index
        out = np.zeros((resp.shape[0], len(self.classes_)), dtype=resp.dtype)
        for j in range(resp.shape[1]):
            out[:, idx[j]] += resp[:, j]
        return out

    def predict_class(self, X: ArrayLike) -> np.ndarray:
        """Most probable class of each row (``classes_[argmax predict_class_proba]``), shape
        (n_samples,). Only for a model fitted with ``semi_supervised=True``; :meth:`predict`
        still returns component indices, as in scikit-learn."""
        proba = self.predict_class_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

