FROM busybox
# A comment inside a continued instruction is dropped, and so are empty lines (with a warning).
RUN echo first \
    second \
# a comment line
      third \

    fourth
# Whitespace after the backslash still continues the line.
RUN echo a \   
    b
# An escaped backslash at the end does not continue.
RUN echo c \\
RUN echo "quoted \
continued"
  # indented comment
    RUN echo indented instruction
