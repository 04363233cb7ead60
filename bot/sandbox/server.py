"""The fakes run on the same loop-in-a-thread server as the bot."""

from bot.aio import ServerThread

__all__ = ["ServerThread"]
