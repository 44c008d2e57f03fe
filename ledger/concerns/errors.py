"""The refusals of the concerns domain, each with its stable code (docs/concerns.md, "Refusals"); the HTTP status
comes from the family (ledger/core/errors.py). `concern_wrong_step` lives with the table it guards
(ledger/concerns/lifecycle.py)."""

from __future__ import annotations

from ledger.core.errors import Conflict, Forbidden, Invalid, NotFound, TooLarge, UnsupportedType


class ConcernNotFound(NotFound):
    code = "concern_not_found"  # also someone else's: it looks missing


class NotTheReporter(Forbidden):
    code = "not_the_reporter"


class NotTheHandler(Forbidden):
    code = "not_the_handler"


class HandlerNotFound(Invalid):
    code = "handler_not_found"


class HandlerInactive(Conflict):
    code = "handler_inactive"


class MergeIntoSelf(Conflict):
    code = "merge_into_self"


class MergeTargetClosed(Conflict):
    code = "merge_target_closed"


class ConcernTextRequired(Invalid):
    code = "concern_text_required"


class ConcernTooManyPhotos(Invalid):
    code = "concern_too_many_photos"


class ConcernPhotoRequired(Invalid):
    code = "concern_photo_required"  # a resolution shows what was done: 1 to 3 photos


class ConcernVoiceTooLarge(TooLarge):
    code = "concern_voice_too_large"


class ConcernVoiceType(UnsupportedType):
    code = "concern_voice_type"


class CategoryNotFound(Invalid):
    code = "category_not_found"


class PlaceNotFound(Invalid):
    code = "place_not_found"
