// Drawing shapes on a camera's picture, shared by the analytics rule editor (zones, lines, directions) and
// the privacy masks (the panel, and the cover over recorded video): an SVG overlay whose coordinates are
// the picture's pixels (viewBox), so shapes keep their proportions; shapes are kept in fractions (0..1) of
// the picture's width and height, so they fit any size of the same picture.
"use strict";

window.drawing = (function () {
  const SVG = "http://www.w3.org/2000/svg";

  function svgEl(tag, attrs) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
    return node;
  }

  // The overlay emptied and sized to a picture of `size` ([width, height]) pixels.
  function reset(svg, size) {
    svg.setAttribute("viewBox", "0 0 " + size[0] + " " + size[1]);
    svg.replaceChildren();
  }

  // A shape's corners (fractions) as an SVG points attribute in the picture's pixels.
  function points(shape, size) {
    return shape.map((p) => [p[0] * size[0], p[1] * size[1]].join(",")).join(" ");
  }

  function strokeWidth(size) {
    return Math.max(2, size[0] / 400);
  }

  // What is being drawn: a dashed white group (add `attrs` to it), its shape open or closed, and its corners.
  function draft(size, attrs) {
    return svgEl("g", { ...attrs, stroke: "#fff", fill: "none", "stroke-width": strokeWidth(size), "stroke-dasharray": "8 6" });
  }

  function draftShape(shape, closed, size, fillOpacity) {
    return svgEl(closed ? "polygon" : "polyline", { points: points(shape, size), fill: "#fff", "fill-opacity": closed ? fillOpacity : 0 });
  }

  function corner(p, size) {
    return svgEl("circle", { cx: p[0] * size[0], cy: p[1] * size[1], r: Math.max(4, size[0] / 250), fill: "#fff", stroke: "none" });
  }

  // Where a click on the overlay fell, in fractions of the picture (clamped, to 4 decimals).
  function pointOf(svg, event) {
    const box = svg.getBoundingClientRect();
    const clamp = (v) => Math.min(1, Math.max(0, v));
    const round = (v) => Math.round(v * 10000) / 10000;
    return [round(clamp((event.clientX - box.left) / box.width)), round(clamp((event.clientY - box.top) / box.height))];
  }

  return { svgEl, reset, points, strokeWidth, draft, draftShape, corner, pointOf };
})();
