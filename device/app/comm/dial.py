"""The dial-up bearer: frames over a Hayes modem call (drivers/hayes.py), behind the five
methods of app.comm.frames.

    bearer = DialBearer(board.modem(), ("95555", "95556"), outside_line="0")
    bearer.connect()      # init string, then ATDT0,95555; on failure ATDT0,95556
    answer = bearer.exchange(frame, 30000)
    bearer.close()        # +++ and ATH

The modem's named errors become the engine's: while dialling, every one is ConnectFailed with
the modem's own words for each number tried ("95555: BUSY; 95556: NO ANSWER"); during the
call, NO CARRIER is LinkDown and a silent line CommTimeout. CANCEL (`cancel`, app.comm.frames)
aborts the dial in progress: CommCancelled, nothing sent. Imported only when the terminal's
bearer is dial-up, so that the other bearers never load the modem driver.
"""

from app.comm.frames import CommCancelled, ConnectFailed, FrameBearer, LinkDown
from drivers.hayes import DialAborted, ModemTimeout, NoCarrier, NoDialTone


class DialBearer(FrameBearer):
    """Frames over one dial-up call.

    `modem` is a drivers.hayes.Modem; `numbers` the centre numbers in the order they are
    tried (phone1, then phone2); `outside_line` the PBX prefix of a terminal on an extension
    (None on a direct line); `connect_ms` bounds each dial, from ATD to CONNECT.
    """

    def __init__(self, modem, numbers, *, outside_line=None, connect_ms=60000, buffer_size=1024):
        super().__init__(buffer_size)
        self._modem = modem
        self.numbers = numbers
        self.outside_line = outside_line
        self.connect_ms = connect_ms
        self.number = None  # the number of the call in progress

    @property
    def connected(self):
        return self.number is not None and self._modem.connected

    @property
    def modem(self):
        """The modem (the power-up checks ask it for a dial tone between transactions)."""
        return self._modem

    def connect(self):
        """Dial the numbers in turn until one answers. ConnectFailed naming what each did."""
        if self.connected:
            return
        self.close()
        modem = self._modem
        try:
            modem.setup()
        except OSError as exc:
            raise ConnectFailed("modem: %s" % exc)
        failures = []
        for number in self.numbers:
            self.cancelled(False)
            try:
                modem.dial(
                    number,
                    outside_line=self.outside_line,
                    timeout_ms=self.connect_ms,
                    abort=self.cancel,
                )
            except DialAborted:
                raise CommCancelled(False)
            except NoDialTone as exc:
                # The terminal's own line: another number would meet the same silence.
                failures.append("%s: %s (check the phone line)" % (number, exc))
                break
            except OSError as exc:
                failures.append("%s: %s" % (number, exc))
                continue
            self.number = number
            return
        raise ConnectFailed("dial-up: " + "; ".join(failures))

    def close(self):
        """Hang up (if a call was made); never raises."""
        if self.number is None:
            return
        self.number = None
        try:
            self._modem.hangup()
        except OSError:
            pass  # a modem that does not answer ATH: the next connect's init resets it

    def send(self, frame):
        """Send `frame` on the call; LinkDown once the carrier is gone."""
        if not self.connected:
            raise LinkDown("not connected")
        try:
            self._modem.write(frame)
        except OSError as exc:
            raise LinkDown("modem: %s" % exc)

    def _readinto(self, view, timeout_ms):
        try:
            return self._modem.readinto(view, timeout_ms)
        except ModemTimeout:
            return 0
        except NoCarrier:
            raise LinkDown("the line dropped (NO CARRIER)")
        except OSError as exc:
            raise LinkDown("modem: %s" % exc)
