"""Strings no store can hold (U+0000, unpaired surrogates) are refused at the edge with 422
naming the field: in query and path parameters here, in bodies by the command rules
(:mod:`supportes.aggregates.storable`) before anything reads or sends them."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from pydantic import model_validator

from supportes.aggregates.storable import describe, first_unstorable, unstorable_char
from supportes.api.errors import ApiError


async def refuse_unstorable_parameters(request: Request) -> None:
    """A dependency of every route: 422 for a query or path parameter no store can hold.

    ``async`` although it does no I/O: FastAPI runs a plain ``def`` dependency in the
    threadpool, a hop on every request (15 % of the submit route's CPU in a profile)."""
    for where, values in (("query", request.query_params), ("path", request.path_params)):
        for name, value in values.items():
            char = unstorable_char(str(value))
            if char is not None:
                raise ApiError(
                    422,
                    "invalid",
                    f"{name}: must not contain {describe(char)} ({where} parameter)",
                    name,
                )


class StorableBody:
    """Mixin for request bodies: refuse unstorable strings anywhere in the raw body."""

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        found = first_unstorable(data)
        if found is not None:
            place, char = found
            raise ValueError(f"{place or 'body'}: must not contain {describe(char)}")
        return data
