#pragma D option quite
BEGIN { exit(); }
