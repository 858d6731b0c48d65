BEGIN { n = 0; }
syscall::read:entry { n++; ++n; n--; self->c++; this->x = 1; this->x += 2; this->x *= 3; this->x <<= 1; @v = max(this->x); }
