"""The error tree. Every error carries a short sentence that is safe to show a user.

    RokBotError                    user_message: one short, actionable sentence    outcome
    ├── UsageError                 the caller asked for something malformed (CLI 2)  refused
    │   ├── DurationError          a duration that is junk, out of range or ambiguous
    │   └── RequestNotPending      an approval click on a request decided, lapsed or unknown
    ├── AccessDenied               identity or policy refuses the request            refused
    │   ├── EmailMappingRefused    email mapping cannot vouch for this user
    │   ├── LimitExceeded          quota, cooldown or capacity: says how long to wait
    │   └── RenewRefused           a Renew of a token not the clicker's, unknown, or renewed already
    │   └── NotAnApprover          an Approve/Deny click by the requester or a non-approver
    │   └── NotAnAdmin             `/rok-token who` by someone the policy's admins do not name
    ├── SealError                  a Verify/Renew value forged, tampered, another's  refused
    │   ├── SealExpired            ... or expired
    │   └── SealKeyRetired         ... or sealed with a key the bot no longer has
    ├── AccountError                                                                 failed
    │   ├── NoAccountError         no Rok account with that exact username
    │   └── AmbiguousAccountError  several accounts with that exact username
    ├── ClusterError               the Kubernetes side failed
    │   ├── PodResolutionError     no selector / no pods / none ready
    │   └── ExecError              the exec call failed
    │       ├── ExecStartError     failed before the command could have run (safe to retry)
    │       ├── ExecTimeout        the command did not finish in time
    │       ├── OutputTooLarge     the command printed more than the output limit
    │       └── CommandFailed      the command ran and exited non-zero
    ├── OutputParseError           the command's output was not what we can read
    ├── DeliveryError              the token was minted but could not be delivered  undelivered
    ├── ApprovalUnavailable        the request could not be put before the approvers  failed
    ├── RegistryUnreachable        the registry did not answer /auth/v1/token
    └── InternalError              a bug: the user gets a reference, the log the traceback

No message ever contains a token, raw command output or a stack trace: details that an admin needs
go in `detail`, which is logged (after redaction), never shown in Slack.

`may_have_minted` marks a token-create that started and did not finish cleanly (timed out, dropped
mid-stream, printed too much, or exited 0 with output we cannot read): a token may exist that nobody
holds, so it counts against the quota and is audited as `possibly_minted`, whatever the error's class.
"""

from __future__ import annotations

from bot.domain.audit import Outcome


class RokBotError(Exception):
    """Base of every error the bot expects; `user_message` is safe to show a user."""

    user_message: str = "Something went wrong while handling your request."
    may_have_minted: bool = False
    _outcome: Outcome = Outcome.FAILED

    def __init__(self, user_message: str | None = None, *, detail: str = "") -> None:
        if user_message is not None:
            self.user_message = user_message
        self.detail = detail
        super().__init__(self.user_message)

    @property
    def outcome(self) -> Outcome:
        """What the audit calls this failure: the class's outcome, unless a token may exist."""
        return Outcome.POSSIBLY_MINTED if self.may_have_minted else self._outcome

    def possibly_minted(self) -> RokBotError:
        """Mark this failure as one after which a token may exist (see the module docstring)."""
        self.may_have_minted = True
        return self

    @property
    def kind(self) -> str:
        """A stable, low-cardinality name for metrics and audit events."""
        name = type(self).__name__
        return "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")


class UsageError(RokBotError):
    user_message = "That request is not valid."
    _outcome = Outcome.REFUSED


class DurationError(UsageError):
    user_message = "That duration is not valid."


class RequestNotPending(UsageError):
    """An Approve or Deny on a request that is no longer waiting (decided, lapsed) or never existed."""

    user_message = "This request is no longer waiting for a decision."


class AccessDenied(RokBotError):
    user_message = "You are not allowed to get a Rok Registry token."
    _outcome = Outcome.REFUSED


class EmailMappingRefused(AccessDenied):
    """Email mapping cannot vouch for this user: the user map must name them."""

    user_message = (
        "Your Slack email cannot be mapped to a Rok Registry username; ask an admin to add you to the user map."
    )


class LimitExceeded(AccessDenied):
    """A quota, cooldown or capacity refusal; the message says how long to wait."""

    user_message = "You have asked for too many tokens; try again later."


class RenewRefused(AccessDenied):
    """A Renew click the bot will not act on: someone else's token, one it no longer knows, or one renewed
    already (each token is renewed once; the ledger's `renewed_from` is unique)."""

    user_message = "This Renew button is not for you: only the person a token was issued to can renew it."


class NotAnApprover(AccessDenied):
    """An Approve or Deny click by someone who may not decide: the requester, or anyone not listed."""

    user_message = "You cannot approve this request: only the listed approvers can."


class NotAnAdmin(AccessDenied):
    """`/rok-token who` (everyone's live tokens) asked by someone who is not one of the policy's admins."""

    user_message = "Only the bot's admins may see who holds tokens."


class SealError(RokBotError):
    """A button value that is forged, tampered with, someone else's, or expired."""

    user_message = "This Verify button is not valid for you; run /rok-token again."
    _outcome = Outcome.REFUSED


class SealExpired(SealError):
    user_message = "This token has expired; run /rok-token again for a new one."


class SealKeyRetired(SealError):
    user_message = "This Verify button was sealed with a key the bot no longer has; run /rok-token again."


class AccountError(RokBotError):
    user_message = "Your Rok Registry account could not be found."


class NoAccountError(AccountError):
    user_message = "There is no Rok Registry account with that username."


class AmbiguousAccountError(AccountError):
    user_message = "Several Rok Registry accounts have that username; an admin must fix the registry."


class ClusterError(RokBotError):
    user_message = "The Rok Registry cluster could not be reached; try again in a minute."


class PodResolutionError(ClusterError):
    user_message = "No ready Rok Registry pod was found; try again in a minute."


class ExecError(ClusterError):
    user_message = "The command in the Rok Registry pod failed; try again in a minute."


class ExecStartError(ExecError):
    """The exec failed before the remote command could have started: a retry cannot mint twice."""

    user_message = "The Rok Registry pod could not be reached; try again in a minute."


class ExecTimeout(ExecError):
    user_message = "The Rok Registry pod took too long to answer; try again in a minute."


class OutputTooLarge(ExecError):
    user_message = "The Rok Registry answered with more output than the bot accepts; an admin must check the logs."


class CommandFailed(ExecError):
    user_message = "The Rok Registry management command failed; an admin can see the details in the logs."

    def __init__(self, user_message: str | None = None, *, exit_code: int | None = None, detail: str = "") -> None:
        super().__init__(user_message, detail=detail)
        self.exit_code = exit_code


class OutputParseError(RokBotError):
    user_message = "The Rok Registry answered in a format the bot cannot read; an admin must check the logs."


class DeliveryError(RokBotError):
    user_message = "The token was created but could not be delivered to you."
    _outcome = Outcome.UNDELIVERED


class ApprovalUnavailable(RokBotError):
    """The request could not be posted to the approvals channel (the bot not invited, Slack down)."""

    user_message = "Your request could not be put before the approvers; try again in a minute."


class RegistryUnreachable(RokBotError):
    user_message = "The Rok Registry could not be reached to check the token; try again later."


class InternalError(RokBotError):
    """An unexpected exception, wrapped once it is logged with its traceback: the user gets a reference."""

    def __init__(self, request_id: str) -> None:
        super().__init__(
            f"Something went wrong on our side; an admin can trace it with reference {request_id}.",
            detail="internal error (traceback logged)",
        )
