"""The protocol between Python and Redis: key names, the Lua scripts, their typed arguments and replies.

Also what travels in a message: the activation envelope and its signature.
"""
