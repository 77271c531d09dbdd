# Sourced by bench/run.sh, bench/floor.sh and bench/lines.sh once $root and $out are set:
# builds the library and fwasr-devserver (release; sets $devserver), and into $out the C
# clients against them: fwasr_bench (linked to $out/libfwasr.so.0), floor and floor_ws.
cargo build --release -p fwasr -p fwasr-devserver --quiet
devserver=$root/target/release/fwasr-devserver
ln -sf "$root/target/release/libfwasr.so" "$out/libfwasr.so.0"
cc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -Wall -Wextra -Werror -Iinclude bench/fwasr_bench.c \
  -o "$out/fwasr_bench" -L"$out" -l:libfwasr.so.0 -Wl,-rpath,"$out" -lm
cc -O2 -std=c11 -Wall -Wextra -Werror bench/floor.c -o "$out/floor" -lpthread
cc -O2 -std=c11 -Wall -Wextra -Werror bench/floor_ws.c -o "$out/floor_ws" -lpthread
