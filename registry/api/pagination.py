"""The page object of the list endpoints: ``{"count", "next", "previous", "results"}``."""

from __future__ import annotations

from rest_framework.pagination import LimitOffsetPagination

# Beyond any real table, and far inside the databases' 64-bit integers.
MAX_OFFSET = 10**12


class Pages(LimitOffsetPagination):
    """LimitOffset pages whose numbers stay inside what the database accepts: a ``limit`` or
    ``offset`` past 2**63 was a 500 ("bigint out of range")."""

    max_limit = 500

    def get_offset(self, request) -> int:
        return min(super().get_offset(request), MAX_OFFSET)
