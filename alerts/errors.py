"""The one error a channel raises (email, Telegram): whether a retry may help, whether to switch the channel off."""


class ChannelError(Exception):
    def __init__(self, reason, *, permanent=False, switch_off=False):
        super().__init__(reason)
        self.reason = str(reason)[:300]
        self.permanent = permanent or switch_off
        self.switch_off = switch_off
