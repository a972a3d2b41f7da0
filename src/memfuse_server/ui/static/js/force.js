// A small force-directed layout (after d3-force's model, written for this page).
//
// Every tick: nodes repel each other (charge, falling with distance), each link
// pulls its two ends towards a rest length (a spring), and a weak gravity keeps
// unconnected parts near the centre. Forces change velocities; velocities decay
// (friction) and move the nodes. The "heat" alpha scales every force and cools
// towards zero, so the layout settles. A node with `fx`/`fy` set is held there
// (while it is dragged).

const GOLDEN_ANGLE = Math.PI * (3 - Math.sqrt(5));

const DEFAULTS = {
  distance: 150, // rest length of a link
  charge: 900, // strength of the repulsion between two nodes
  reach: 300, // nodes farther apart than this do not repel (keeps loose parts close)
  gravity: 0.06, // pull towards (0, 0)
  friction: 0.6, // share of the velocity kept each tick
  cooling: 0.0228, // alpha falls by this share each tick: ~300 ticks to settle
  settled: 0.002, // alpha below which the layout stops
};

/** Start positions on a sunflower spiral: spread out, and the same every time. */
function seed(nodes) {
  nodes.forEach((node, i) => {
    const radius = 40 * Math.sqrt(i + 0.5);
    node.x ??= radius * Math.cos(i * GOLDEN_ANGLE);
    node.y ??= radius * Math.sin(i * GOLDEN_ANGLE);
    node.vx = 0;
    node.vy = 0;
  });
}

function repel(nodes, strength, reach) {
  const reach2 = reach * reach;
  for (let i = 0; i < nodes.length; i++) {
    const a = nodes[i];
    for (let j = i + 1; j < nodes.length; j++) {
      const b = nodes[j];
      let dx = b.x - a.x;
      let dy = b.y - a.y;
      let d2 = dx * dx + dy * dy;
      if (d2 < 1e-6) {
        dx = (j - i) * 1e-3; // two nodes on one spot: part them the same way every time
        dy = 1e-3;
        d2 = dx * dx + dy * dy;
      }
      if (d2 > reach2) continue;
      const push = strength / d2; // the push falls as 1/distance
      a.vx -= dx * push;
      a.vy -= dy * push;
      b.vx += dx * push;
      b.vy += dy * push;
    }
  }
}

function pull(links, distance, alpha, degree) {
  for (const { source: a, target: b } of links) {
    const dx = b.x + b.vx - a.x - a.vx;
    const dy = b.y + b.vy - a.y - a.vy;
    const d = Math.sqrt(dx * dx + dy * dy) || 1e-3;
    // Weaker springs at hubs, so a node with many links is not pulled flat.
    const k = (((d - distance) / d) * alpha) / Math.min(degree.get(a), degree.get(b)) / 2;
    a.vx += dx * k;
    a.vy += dy * k;
    b.vx -= dx * k;
    b.vy -= dy * k;
  }
}

function move(nodes, friction, gravity) {
  for (const node of nodes) {
    node.vx = (node.vx - node.x * gravity) * friction;
    node.vy = (node.vy - node.y * gravity) * friction;
    if (node.fx !== undefined) {
      [node.x, node.y, node.vx, node.vy] = [node.fx, node.fy, 0, 0];
    } else {
      node.x += node.vx;
      node.y += node.vy;
    }
  }
}

/** A layout over `nodes` ({id}) and `links` ({source, target} node objects). */
export function forceLayout(nodes, links, options = {}) {
  const o = { ...DEFAULTS, ...options };
  const degree = new Map(nodes.map((n) => [n, 0]));
  for (const { source, target } of links) {
    degree.set(source, degree.get(source) + 1);
    degree.set(target, degree.get(target) + 1);
  }
  seed(nodes);
  let alpha = 1;

  const tick = () => {
    alpha -= alpha * o.cooling;
    repel(nodes, o.charge * alpha, o.reach);
    pull(links, o.distance, alpha, degree);
    move(nodes, o.friction, o.gravity * alpha);
    return alpha > o.settled;
  };

  return {
    tick,
    /** Tick until settled (or `max` ticks): the first layout, before anything is drawn. */
    settle(max = 600) {
      for (let i = 0; i < max && tick(); i++);
    },
    /** Warm up again (a node was dragged): the caller ticks until `tick()` is false. */
    reheat(to = 0.3) {
      alpha = Math.max(alpha, to);
    },
  };
}
